"""Build a ready scorer: model (configurable by name or path), text pipeline, embedding cache."""

from __future__ import annotations

from pathlib import Path

from screening.encoder import DEFAULT_MODEL, CachingEncoder, EmbeddingCache, SentenceTransformerEncoder
from screening.manifest import verify_model
from screening.method import DEFAULT_METHOD, MethodConfig
from screening.paths import default_cache_dir
from screening.scorer import Scorer
from screening.text import TextAnalyzer

__all__ = ["build_scorer"]


def build_scorer(
    model: str = DEFAULT_MODEL,
    *,
    cache_dir: Path | None = None,
    spacy_pipeline: str | None = None,
    batch_size: int = 4,
    method: MethodConfig = DEFAULT_METHOD,
) -> Scorer:
    """A :class:`Scorer` with the given model; rubric embeddings cached under ``cache_dir``."""
    encoder = SentenceTransformerEncoder(model, batch_size=batch_size)
    verify_model(encoder)
    cache = EmbeddingCache((cache_dir or default_cache_dir()) / "embeddings.sqlite3")
    return Scorer(
        encoder,
        TextAnalyzer(spacy_pipeline),
        reference_encoder=CachingEncoder(encoder, cache),
        method=method,
    )
