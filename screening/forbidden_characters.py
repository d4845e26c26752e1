"""Characters no stored or scored text may hold, and where in a decoded document they are.

One pattern for control characters (NUL included; tab and line breaks allowed) and one walker that
names the path (``answers[0].text``) of every string or key matching a pattern, for any decoded JSON
or TOML document.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CONTROL_CHARACTERS", "NUL", "paths_matching"]

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
NUL = re.compile("\x00")


def paths_matching(value: Any, pattern: re.Pattern[str], root: str, path: str = "") -> list[str]:
    """Paths of the strings (and keys) in ``value`` where ``pattern`` is found; ``root`` names a bare string."""
    if isinstance(value, str):
        return [path or root] if pattern.search(value) else []
    found: list[str] = []
    if isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_matching(item, pattern, root, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            found += [child] if pattern.search(str(key)) else paths_matching(item, pattern, root, child)
    return found
