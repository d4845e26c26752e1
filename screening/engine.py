"""Build a ready scorer: method, model (configurable by name or path), text pipeline, embedding cache.

Each method has a default encoder: v1 reads frozen all-MiniLM-L6-v2 embeddings; v2 reads
the behaviour encoder (MiniLM fine-tuned on the default rubric's anchors, built once into
the cache: :mod:`screening.behaviour_model`). Each runs on one of three backends: torch
(sentence-transformers, the default), or onnxruntime on the model exported once into the
cache (:mod:`screening.onnx_export`), fp32 (``onnx``) or dynamically quantised (``onnx-int8``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from screening.batching import BatchingEncoder
from screening.behaviour_model import BEHAVIOUR_MODEL, ensure_behaviour_model
from screening.encoder import (
    BACKENDS,
    DEFAULT_MODEL,
    Backend,
    CachingEncoder,
    EmbeddingCache,
    Encoder,
    SentenceTransformerEncoder,
    resolve_model_path,
    weights_file_sha256,
)
from screening.errors import InvalidMethod, ModelError
from screening.manifest import verify_model, verify_weights
from screening.method import DEFAULT_METHOD, METHODS, MethodConfig
from screening.onnx_export import ensure_onnx_export
from screening.paths import builtin_rubrics_dir, default_cache_dir
from screening.rubric import RubricLibrary
from screening.scorer import Scorer
from screening.text import TextAnalyzer
from screening.torch_free import export_in_child, torch_forbidden

__all__ = [
    "BACKEND_ENV",
    "DEFAULT_RUBRIC",
    "behaviour_model_folder",
    "build_scorer",
    "checked_backend",
    "default_backend",
    "default_model",
    "export_model",
    "method_named",
    "open_encoder",
]

DEFAULT_RUBRIC = "customer-service-attitude"
BACKEND_ENV = "SCREENING_ENCODER_BACKEND"
DEFAULT_TORCH_BATCH_SIZE = 4


def method_named(method_id: str | None) -> MethodConfig:
    """The method with this versioned id (``screening.stacked-levels.v2``), or the default."""
    if method_id is None:
        return DEFAULT_METHOD
    try:
        return METHODS[method_id]
    except KeyError:
        raise InvalidMethod(method_id, sorted(METHODS)) from None


def default_model(method: MethodConfig) -> str:
    """The encoder a method is defined with."""
    return BEHAVIOUR_MODEL if method.learned else DEFAULT_MODEL


def default_backend() -> Backend:
    """``$SCREENING_ENCODER_BACKEND``, else ``torch``."""
    return checked_backend(os.environ.get(BACKEND_ENV) or "torch")


def checked_backend(name: str) -> Backend:
    """``name`` if it is a known encoder backend; else a :class:`ModelError` listing them."""
    for backend in BACKENDS:
        if name == backend:
            return backend
    raise ModelError(f"Unknown encoder backend {name!r}; use one of {', '.join(BACKENDS)}.")


def open_encoder(
    model: str,
    cache_dir: Path,
    batch_size: int | None = None,
    log: Callable[[str], None] | None = None,
    backend: Backend | None = None,
) -> Encoder:
    """The encoder for ``model`` on ``backend`` (default: :func:`default_backend`); the behaviour
    encoder is built first if the cache lacks it, and an ONNX backend exports the model first if
    the cache has no export of its weights yet.
    """
    backend = checked_backend(backend or default_backend())
    if backend != "torch":
        from screening.onnx_encoder import DEFAULT_ONNX_BATCH_SIZE, OnnxEncoder

        model_id, export_dir = export_model(model, cache_dir, log)
        return OnnxEncoder(export_dir, backend, model_id=model_id, batch_size=batch_size or DEFAULT_ONNX_BATCH_SIZE)
    batch_size = batch_size or DEFAULT_TORCH_BATCH_SIZE
    if model != BEHAVIOUR_MODEL:
        encoder = SentenceTransformerEncoder(model, batch_size=batch_size)
        verify_model(encoder)
        return encoder
    folder = behaviour_model_folder(cache_dir, log)
    return SentenceTransformerEncoder(str(folder), batch_size=batch_size, model_id=BEHAVIOUR_MODEL)


def behaviour_model_folder(cache_dir: Path, log: Callable[[str], None] | None = None) -> Path:
    """The built behaviour encoder's folder (built first if missing), from verified base weights."""
    _, base_path = resolve_model_path(DEFAULT_MODEL)
    base_sha256 = weights_file_sha256(Path(base_path))
    if base_sha256 is None:  # no single weights file: load the model to hash its parameters
        base_sha256 = SentenceTransformerEncoder(DEFAULT_MODEL).weights_sha256
    verify_weights(DEFAULT_MODEL, base_sha256)
    rubric = RubricLibrary.from_folder(builtin_rubrics_dir()).get(DEFAULT_RUBRIC)
    return ensure_behaviour_model(cache_dir, rubric, DEFAULT_MODEL, base_path, base_sha256, log)


def export_model(model: str, cache_dir: Path, log: Callable[[str], None] | None = None) -> tuple[str, Path]:
    """``(model id, ONNX export folder)`` of ``model``'s verified weights, exported first if missing.

    In a process kept free of torch (:mod:`screening.torch_free`), a missing build or export runs in a
    child process.
    """
    try:
        return _export_model(model, cache_dir, log)
    except ImportError:
        if not torch_forbidden():
            raise
        export_in_child(model, cache_dir)
        return _export_model(model, cache_dir, log)


def _export_model(model: str, cache_dir: Path, log: Callable[[str], None] | None) -> tuple[str, Path]:
    if model == BEHAVIOUR_MODEL:
        model_id, folder = BEHAVIOUR_MODEL, behaviour_model_folder(cache_dir, log)
    else:
        model_id, path = resolve_model_path(model)
        folder = Path(path)
    sha256 = weights_file_sha256(folder) if folder.is_dir() else None
    if sha256 is None:
        raise ModelError(
            f"Cannot use {model!r} on an ONNX backend: it needs a local sentence-transformers folder "
            "with a single weights file (model.safetensors or pytorch_model.bin)."
        )
    verify_weights(model_id, sha256)
    return model_id, ensure_onnx_export(cache_dir, model_id, folder, sha256, log)


def build_scorer(
    model: str | None = None,
    *,
    cache_dir: Path | None = None,
    spacy_pipeline: str | None = None,
    batch_size: int | None = None,
    method: MethodConfig = DEFAULT_METHOD,
    backend: Backend | None = None,
    batching: bool | None = False,
) -> Scorer:
    """A :class:`Scorer` with the given method and model (the method's own by default) on ``backend``
    (default: ``$SCREENING_ENCODER_BACKEND`` or torch); rubric embeddings cached under ``cache_dir``.
    With ``batching``, the texts of concurrent callers are encoded together (a service's scorer);
    ``None`` batches on a GPU only (measured on CPU: one call already keeps every core busy, and
    batching across requests gained nothing; see the README's Speed section).
    """
    cache_dir = cache_dir or default_cache_dir()
    encoder = open_encoder(model or default_model(method), cache_dir, batch_size, backend=backend)
    if batching is None:
        batching = getattr(encoder, "device", "cpu") != "cpu"
    if batching:
        encoder = BatchingEncoder(encoder)
    cache = EmbeddingCache(cache_dir / "embeddings.sqlite3")
    return Scorer(
        encoder,
        TextAnalyzer(spacy_pipeline),
        reference_encoder=CachingEncoder(encoder, cache),
        method=method,
    )
