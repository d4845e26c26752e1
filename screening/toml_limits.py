"""Limits checked on rubric TOML before it is parsed: size, nesting depth, dotted-key parts, key length.

The TOML parser is recursive and slows down badly on some shapes (very deep arrays or inline tables,
keys of thousands of dotted parts); a rubric never needs any of them, so they are refused up front with
the line they are on. The scan is linear (regular expressions and a running sum).
"""

from __future__ import annotations

import re

import numpy as np

from screening.errors import Problem

__all__ = ["MAX_DEPTH", "MAX_KEY_CHARS", "MAX_KEY_PARTS", "MAX_RUBRIC_BYTES", "toml_limit_problems"]

MAX_RUBRIC_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 16
MAX_KEY_PARTS = 16
MAX_KEY_CHARS = 256

_STRINGS_AND_COMMENTS = re.compile(
    r'"""[\s\S]*?"""|' + r"'''[\s\S]*?'''|" + r'"(?:[^"\\\n]|\\.)*"|' + r"'[^'\n]*'|" + r"#[^\n]*"
)
_DOTTED_KEY = re.compile(
    r"(?:[A-Za-z0-9_-]+|\"\")(?:[ \t]*\.[ \t]*(?:[A-Za-z0-9_-]+|\"\")){%d,}" % MAX_KEY_PARTS  # noqa: UP031
)
_LONG_KEY = re.compile(r"(?:^|[{,])[ \t]*([A-Za-z0-9_.\"\t -]{%d,})[ \t]*=" % (MAX_KEY_CHARS + 1), re.MULTILINE)  # noqa: UP031
_STRUCTURE = np.zeros(256, dtype=np.int8)
_STRUCTURE[[ord("["), ord("{")]] = 1
_STRUCTURE[[ord("]"), ord("}")]] = -1


def _blank_strings(text: str) -> str:
    """Replace each string by ``""`` and drop comments, keeping line breaks (so line numbers stay right)."""

    def keep_lines(match: re.Match[str]) -> str:
        token = match.group(0)
        return "" if token.startswith("#") else '""' + "\n" * token.count("\n")

    return _STRINGS_AND_COMMENTS.sub(keep_lines, text)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def toml_limit_problems(text: str, max_bytes: int = MAX_RUBRIC_BYTES) -> list[Problem]:
    """Every limit the text breaks, with its line; empty when it may be parsed."""
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        return [Problem(location="toml", message=f"{size} bytes; at most {max_bytes} are accepted")]
    bare = _blank_strings(text)
    problems: list[Problem] = []
    codes = np.frombuffer(bare.encode("latin-1", errors="replace"), dtype=np.uint8)
    depth = np.cumsum(_STRUCTURE[codes], dtype=np.int64)
    if depth.size and depth.max() > MAX_DEPTH:
        line = _line_of(bare, int(np.argmax(depth > MAX_DEPTH)))
        problems.append(
            Problem(location=f"line {line}", message=f"arrays or tables nested deeper than {MAX_DEPTH} levels")
        )
    if match := _DOTTED_KEY.search(bare):
        problems.append(
            Problem(
                location=f"line {_line_of(bare, match.start())}",
                message=f"a dotted key of more than {MAX_KEY_PARTS} parts",
            )
        )
    if match := _LONG_KEY.search(bare):
        problems.append(
            Problem(
                location=f"line {_line_of(bare, match.start(1))}",
                message=f"a key longer than {MAX_KEY_CHARS} characters",
            )
        )
    return problems
