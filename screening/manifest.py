"""The model manifest (``models/manifest.toml``): which weights each known model id must have."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

from screening.encoder import Encoder
from screening.errors import ModelError
from screening.paths import builtin_models_dir

__all__ = ["ModelEntry", "load_manifest", "verify_model", "verify_weights"]


class ModelEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One known model."""

    id: str
    weights_file: str
    weights_sha256: str
    dimension: int
    license: str
    source: str
    card: str


class _Manifest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    models: tuple[ModelEntry, ...] = ()


def load_manifest(path: Path | None = None) -> dict[str, ModelEntry]:
    """Known models by id."""
    path = path or builtin_models_dir() / "manifest.toml"
    if not path.is_file():
        return {}
    manifest = msgspec.convert(tomllib.loads(path.read_text("utf-8")), type=_Manifest)
    return {m.id: m for m in manifest.models}


def verify_model(encoder: Encoder, manifest: dict[str, ModelEntry] | None = None) -> None:
    """Refuse an encoder whose id is in the manifest but whose weights differ from it."""
    verify_weights(encoder.model_id, encoder.weights_sha256, manifest)


def verify_weights(model_id: str, weights_sha256: str, manifest: dict[str, ModelEntry] | None = None) -> None:
    """Refuse weights that a model id in the manifest must not have."""
    entry = (manifest if manifest is not None else load_manifest()).get(model_id)
    if entry is not None and entry.weights_sha256 != weights_sha256:
        raise ModelError(
            f"Model {model_id!r} has weights sha256 {weights_sha256}, but the manifest "
            f"(models/manifest.toml) expects {entry.weights_sha256}. Reinstall the model or give it another id."
        )
