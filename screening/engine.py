"""Build a ready scorer: method, model (configurable by name or path), text pipeline, embedding cache.

Each method has a default encoder: v1 reads frozen all-MiniLM-L6-v2 embeddings; v2 reads
the behaviour encoder (MiniLM fine-tuned on the default rubric's anchors, built once into
the cache: :mod:`screening.behaviour_model`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from screening.behaviour_model import BEHAVIOUR_MODEL, ensure_behaviour_model
from screening.encoder import (
    DEFAULT_MODEL,
    CachingEncoder,
    EmbeddingCache,
    SentenceTransformerEncoder,
    resolve_model_path,
    weights_file_sha256,
)
from screening.errors import InvalidMethod
from screening.manifest import verify_model, verify_weights
from screening.method import DEFAULT_METHOD, METHODS, MethodConfig
from screening.paths import builtin_rubrics_dir, default_cache_dir
from screening.rubric import RubricLibrary
from screening.scorer import Scorer
from screening.text import TextAnalyzer

__all__ = ["DEFAULT_RUBRIC", "build_scorer", "default_model", "method_named", "open_encoder"]

DEFAULT_RUBRIC = "customer-service-attitude"


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


def open_encoder(
    model: str, cache_dir: Path, batch_size: int = 4, log: Callable[[str], None] | None = None
) -> SentenceTransformerEncoder:
    """The encoder for ``model``; the behaviour encoder is built first if the cache lacks it."""
    if model != BEHAVIOUR_MODEL:
        encoder = SentenceTransformerEncoder(model, batch_size=batch_size)
        verify_model(encoder)
        return encoder
    _, base_path = resolve_model_path(DEFAULT_MODEL)
    base_sha256 = weights_file_sha256(Path(base_path))
    if base_sha256 is None:  # no single weights file: load the model to hash its parameters
        base_sha256 = SentenceTransformerEncoder(DEFAULT_MODEL, batch_size=batch_size).weights_sha256
    verify_weights(DEFAULT_MODEL, base_sha256)
    rubric = RubricLibrary.from_folder(builtin_rubrics_dir()).get(DEFAULT_RUBRIC)
    folder = ensure_behaviour_model(cache_dir, rubric, DEFAULT_MODEL, base_path, base_sha256, log)
    return SentenceTransformerEncoder(str(folder), batch_size=batch_size, model_id=BEHAVIOUR_MODEL)


def build_scorer(
    model: str | None = None,
    *,
    cache_dir: Path | None = None,
    spacy_pipeline: str | None = None,
    batch_size: int = 4,
    method: MethodConfig = DEFAULT_METHOD,
) -> Scorer:
    """A :class:`Scorer` with the given method and model (the method's own by default);
    rubric embeddings cached under ``cache_dir``.
    """
    cache_dir = cache_dir or default_cache_dir()
    encoder = open_encoder(model or default_model(method), cache_dir, batch_size)
    cache = EmbeddingCache(cache_dir / "embeddings.sqlite3")
    return Scorer(
        encoder,
        TextAnalyzer(spacy_pipeline),
        reference_encoder=CachingEncoder(encoder, cache),
        method=method,
    )
