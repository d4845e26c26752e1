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

# Strings (each kind, escapes honoured) and comments, matched possessively: an unterminated one runs to
# the end of its line or of the text, so every character is looked at a bounded number of times.
_STRINGS_AND_COMMENTS = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*+(?:"{3,5}|\Z)'
    + r"|'''(?:[^']|'(?!''))*+(?:'{3,5}|\Z)"
    + r'|"(?:[^"\\\n]|\\.)*+(?:"|(?=\n)|\Z)'
    + r"|'[^'\n]*+(?:'|(?=\n)|\Z)"
    + r"|#[^\n]*+"
)
_KEY_SEPARATORS = re.compile(r"([{},=\n\[\]])")
_STRUCTURE = np.zeros(256, dtype=np.int8)
_STRUCTURE[[ord("["), ord("{")]] = 1
_STRUCTURE[[ord("]"), ord("}")]] = -1


def _blank_strings(text: str) -> str:
    """Replace each string by ``""`` and drop comments, keeping line breaks (so line numbers stay right)."""

    def keep_lines(match: re.Match[str]) -> str:
        token = match.group(0)
        return "" if token.startswith("#") else '""' + "\n" * token.count("\n")

    return _STRINGS_AND_COMMENTS.sub(keep_lines, text)


def _key_problems(bare: str) -> list[Problem]:
    """Keys (the text before each ``=``) with too many dotted parts or too many characters."""
    problems: list[Problem] = []
    tokens = _KEY_SEPARATORS.split(bare)  # segments and the separators between them, in order
    line = 1
    for index, token in enumerate(tokens):
        if token == "=" and index > 0:
            key = tokens[index - 1].strip()
            if key.count(".") + 1 > MAX_KEY_PARTS:
                problems.append(
                    Problem(location=f"line {line}", message=f"a dotted key of more than {MAX_KEY_PARTS} parts")
                )
            if len(key) > MAX_KEY_CHARS:
                problems.append(
                    Problem(location=f"line {line}", message=f"a key longer than {MAX_KEY_CHARS} characters")
                )
            if len(problems) >= 2:
                break
        line += token.count("\n")
    return problems


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
    problems += _key_problems(bare)
    return problems
