"""Where built-in rubrics, the model manifest and caches live."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["builtin_models_dir", "builtin_rubrics_dir", "default_cache_dir"]

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent


def _data_dir(name: str) -> Path:
    """``screening/builtin/NAME`` in an installed wheel, ``NAME/`` at the repository root otherwise."""
    installed = _PACKAGE / "builtin" / name
    return installed if installed.is_dir() else _REPO / name


def builtin_rubrics_dir() -> Path:
    """The folder of rubrics that ship with the service."""
    return _data_dir("rubrics")


def builtin_models_dir() -> Path:
    """The folder with the model manifest and model cards."""
    return _data_dir("models")


def default_cache_dir() -> Path:
    """``$SCREENING_CACHE_DIR``, else ``$XDG_CACHE_HOME/attitude-screening``, else ``~/.cache/...``."""
    explicit = os.environ.get("SCREENING_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "attitude-screening"
