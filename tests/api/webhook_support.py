"""A real webhook receiver for the tests: a plain ASGI app served by uvicorn on loopback (``serve``, or
``serve_tls`` with a self-signed certificate made by ``openssl``).

It records every request (headers and raw body) and answers as the test tells it: a status code, a
redirect, or a delay longer than the sender's timeout.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from browser_support import free_port

from api.webhook_signature import verify_signature


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)

    def verify(self, secret: str, now: float) -> int:
        """Check the signature as an integrator would; its timestamp."""
        return verify_signature(secret, self.headers["screening-signature"], self.body, now=now)


@dataclass
class Receiver:
    """ASGI receiver: ``status`` to answer, ``redirect_to`` for a 3xx, ``delay`` seconds before answering."""

    status: int = 200
    redirect_to: str | None = None
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self._lock:
            self.received.append(Received(path=scope["path"], headers=headers, body=body))
        if self.delay:
            await asyncio.sleep(self.delay)
        extra = [(b"location", self.redirect_to.encode())] if self.redirect_to else []
        await send({"type": "http.response.start", "status": self.status, "headers": extra})
        await send({"type": "http.response.body", "body": b"ok"})

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The events received (of one type), in order."""
        with self._lock:
            found = [r.event for r in self.received if r.path != "/elsewhere"]
        return [e for e in found if event_type is None or e["type"] == event_type]

    def wait_for(self, count: int, event_type: str | None = None, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Block until ``count`` events (of one type) arrived; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.events(event_type)) < count:
            assert time.monotonic() < deadline, f"only {self.events(event_type)} arrived"
            time.sleep(0.05)
        return self.events(event_type)


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for host ``name`` (Debian's openssl): ``(certificate, key)``."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@contextmanager
def serve_tls(app: Any, cert: Path, key: Path) -> Iterator[int]:
    """Run an ASGI app over TLS in a real uvicorn server on a free loopback port; yields the port."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ssl_certfile=str(cert), ssl_keyfile=str(key)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)
