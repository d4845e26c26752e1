"""Where a msgspec validation error points: one reading of its message, for every caller.

msgspec says where a value is wrong at the end of its message (``Expected `int`, got `str`
- at `$.answers[0].text```), and names an unknown or missing field inside the message
(``Object contains unknown field `mood` - at `$.answers[0]```).
"""

from __future__ import annotations

import re

__all__ = ["join_path", "msgspec_error_location"]

_LOCATED = re.compile(r"^(?P<message>.*?) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_NAMED_FIELD = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<field>[^`]*)`")


def join_path(parent: str, child: str) -> str:
    """``parent.child``, or ``parent[0]`` when ``child`` is an index; either may be empty."""
    if not parent or not child:
        return parent or child
    return parent + child if child.startswith("[") else f"{parent}.{child}"


def msgspec_error_location(message: str, within: str = "") -> tuple[str, str]:
    """``(path, message)`` of a msgspec ``ValidationError`` message: the path without ``$.``
    (``answers[0].text``; for an unknown or missing field, that field's own path; ``""`` at the
    top level) and the message without its location suffix. ``within`` is the path of the
    value the message is about, when the message was already stripped of it (as Litestar does).
    """
    located = _LOCATED.match(message)
    text, path = (located["message"], located["path"].removeprefix(".")) if located else (message, "")
    path = join_path(within, path)
    field = _NAMED_FIELD.match(text)
    return (join_path(path, field["field"]) if field else path), text
