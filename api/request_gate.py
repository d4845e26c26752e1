"""Bounded parsing before any handler runs: strict content type, body size, UTF-8, JSON depth, NUL characters.

Every refusal is problem details naming what is wrong (400, 413, 415 or 422), decided on the raw request
before it is decoded, so hostile input never reaches the JSON decoder's recursion, the database, or the model.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import msgspec
import numpy as np

from api.errors import ApiError, FieldError
from screening.forbidden_characters import NUL, paths_matching

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_JSON_DEPTH", "RequestGate", "content_type", "json_depth", "read_body", "replay_body"]

MAX_JSON_DEPTH = 32
JSON_TYPES = ("application/json",)
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)  # possessive; an open string runs to the end
_OPEN = np.zeros(256, dtype=np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (strings ignored), in linear time."""
    structure = _STRING.sub(b"", body)
    steps = _OPEN[np.frombuffer(structure, dtype=np.uint8)]
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def _malformed(detail: str) -> ApiError:
    return ApiError(400, "malformed-request", "Malformed request", detail)


def _nul_error(paths: list[str], where: str) -> ApiError:
    errors = [FieldError(path, "contains a NUL character, which no field accepts") for path in paths[:20]]
    return ApiError.invalid(f"NUL characters in the {where}: {', '.join(paths[:20])}", errors)


def _check_target(scope: Scope) -> None:
    """Path, query and headers: no NUL characters anywhere (they are refused by the database)."""
    if "\x00" in scope["path"]:
        raise _malformed("The path contains a NUL character.")
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        names = [name for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if "\x00" in value]
        raise _nul_error([f"query.{name}" for name in names] or ["query"], "query string")
    for name, value in scope.get("headers", ()):
        if b"\x00" in value:
            raise _malformed(f"The {name.decode('latin-1')} header contains a NUL character.")


def _takes_json(scope: Scope) -> bool:
    """A handler with a body takes JSON, unless it is a page's form (``opt["form"]``; checked by the UI's CSRF gate)."""
    handler = scope.get("route_handler")
    if handler is None or handler.opt.get("form"):
        return False
    return "data" in handler.parsed_fn_signature.parameters


def content_type(scope: Scope) -> str:
    """The request's media type, lower-case, without parameters (``""`` when absent)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def check_json_body(body: bytes) -> None:
    """Refuse a body that is not UTF-8, is nested too deeply, or holds NUL characters."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _malformed(f"The body is not valid UTF-8 (byte {exc.start}).") from exc
    depth = json_depth(body)
    if depth > MAX_JSON_DEPTH:
        raise _malformed(f"The JSON is nested {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted.")
    if b"\\u0000" in body or b"\x00" in body:
        try:
            paths = paths_matching(msgspec.json.decode(body), NUL, root="body")
        except msgspec.DecodeError as exc:
            raise _malformed(f"The request could not be decoded: {exc}") from exc
        if paths:
            raise _nul_error(paths, "body")


class RequestGate:
    """ASGI middleware: refuses hostile requests before the framework decodes them."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request; pass it on (with its body replayed) or raise the refusal."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        _check_target(scope)
        if not _takes_json(scope):
            await self.app(scope, receive, send)
            return
        if content_type(scope) not in JSON_TYPES:
            raise ApiError(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                "Send the body as JSON with `Content-Type: application/json`.",
                headers={"Accept": "application/json"},
            )
        too_large = ApiError(
            413,
            "payload-too-large",
            "Request body too large",
            f"The request body is larger than {self.max_body_bytes} bytes (SCREENING_MAX_BODY_BYTES).",
        )
        disconnected = _malformed("The client disconnected before sending the whole body.")
        body = await read_body(receive, self.max_body_bytes, too_large=too_large, disconnected=disconnected)
        check_json_body(body)
        await self.app(scope, replay_body(body, receive), send)


async def read_body(receive: Receive, limit: int, *, too_large: Exception, disconnected: Exception) -> bytes:
    """The whole request body, read chunk by chunk; ``too_large`` past ``limit`` bytes, ``disconnected`` if cut off."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read ``body`` to the app, then defers to the client."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
