"""Helpers of the Greenhouse tests: a short rubric, Basic auth, a real SMTP server and a fake Greenhouse.

The fake Greenhouse is a small Litestar app served by real uvicorn: it records each PATCH (answering 500
the first ``fail_first`` times), and after a successful one calls our ``test_status`` with the key the
PATCH authenticated with, as Greenhouse does.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import tomli_w
from aiosmtpd.controller import Controller
from browser_support import free_port
from litestar import Litestar, Request, patch
from litestar.response import Response

from screening.paths import builtin_rubrics_dir

__all__ = [
    "SHORT_RUBRIC",
    "FakeGreenhouse",
    "Mailbox",
    "basic",
    "link_in",
    "mailbox",
    "send_test_body",
    "short_rubric_toml",
]

SHORT_RUBRIC = "gh-short"
KEEP = ("broken-gift", "sales-needs-figures")
ANSWERS = {
    "broken-gift": "I'd apologise, sort a replacement on a same-day courier myself and ring her back this "
    "afternoon to confirm it is on its way, so she has the gift for the party.",
    "sales-needs-figures": "I'd ask exactly which figures they need and by when, pull what I can from our "
    "system before lunch, and tell them honestly which numbers will take longer.",
}


def short_rubric_toml() -> str:
    """The built-in customer-service rubric cut to two questions (same texts, so embeddings are cached)."""
    data = tomllib.loads((builtin_rubrics_dir() / "customer-service-attitude.toml").read_text())
    data["id"], data["title"] = SHORT_RUBRIC, "Short service check"
    data["questions"] = [q for q in data["questions"] if q["id"] in KEEP]
    data["references"] = [r for r in data["references"] if r.get("question") in KEEP]
    used = {m["dimension"] for q in data["questions"] for m in q["measures"]}
    data["dimensions"] = [d for d in data["dimensions"] if d["id"] in used]
    data["red_flags"] = [r for r in data["red_flags"] if r.get("dimension") in used]
    return tomli_w.dumps(data)


def basic(headers: dict[str, str]) -> dict[str, str]:
    """Greenhouse's credentials for a key: HTTP Basic with the key as user name and an empty password."""
    token = headers["Authorization"].removeprefix("Bearer ")
    return {"Authorization": "Basic " + base64.b64encode(f"{token}:".encode()).decode()}


def send_test_body(test_id: str = SHORT_RUBRIC, callback: str = "https://app.greenhouse.io/x/1", **candidate: Any):
    """A ``send_test`` body as Greenhouse sends it (with fields this service ignores)."""
    person = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "resume_url": "https://app.greenhouse.io/resumes/1.pdf",
        "phone_number": "+44 20 7946 0000",
        "greenhouse_profile_url": "https://app.greenhouse.io/people/17681532?application_id=26234709",
    }
    person.update(candidate)
    return {"partner_test_id": test_id, "candidate": person, "url": callback}


@dataclass
class Mailbox:
    """Messages a real SMTP server (aiosmtpd on loopback) received."""

    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def wait(self, count: int = 1, seconds: float = 30) -> list[Message]:
        deadline = time.monotonic() + seconds
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"{len(self.messages)} of {count} emails arrived"
            time.sleep(0.1)
        return self.messages


@contextmanager
def mailbox() -> Iterator[Mailbox]:
    """An SMTP server on a free loopback port."""
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


_LINK = re.compile(r"(https?://\S+/candidate/[A-Za-z0-9_-]+)")


def link_in(message: Message) -> str:
    """The candidate link in an invitation email."""
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    found = _LINK.search(body)
    assert found, body
    return found.group(1)


class FakeGreenhouse:
    """Greenhouse's side: records PATCHes, fails the first ``fail_first``, then reads ``test_status``."""

    def __init__(self, fail_first: int = 1) -> None:
        self.fail_first = fail_first
        self.patches: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.screening_base = ""  # our service's base URL, set once it runs
        self.lock = threading.Lock()

        @patch("/integrations/testing_partners/take_home_tests/{test_id:int}", status_code=200)
        async def completed(request: Request[Any, Any, Any], test_id: int) -> Response[bytes]:
            body = await request.body()
            with self.lock:
                self.patches.append({"test_id": test_id, "auth": request.headers.get("authorization"), "body": body})
                failing = len(self.patches) <= self.fail_first
            if failing:
                return Response(b"", status_code=500)
            await self._read_status(request.headers.get("authorization", ""), test_id)
            return Response(b"", status_code=200)

        self.app = Litestar(route_handlers=[completed])
        self.interview_ids: dict[int, str] = {}

    async def _read_status(self, authorization: str, test_id: int) -> None:
        interview = self.interview_ids[test_id]
        async with httpx.AsyncClient(base_url=self.screening_base, timeout=30) as client:
            response = await client.get(
                "/partners/greenhouse/test_status",
                params={"partner_interview_id": interview},
                headers={"Authorization": authorization},
            )
        self.statuses.append({"status": response.status_code, "json": response.json(), "text": response.text})

    def wait_for_status(self, seconds: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while not self.statuses:
            assert time.monotonic() < deadline, f"no test_status read; PATCHes so far: {len(self.patches)}"
            time.sleep(0.1)
        return self.statuses[-1]
