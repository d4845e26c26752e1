"""Greenhouse's Assessment Partner wire types, decoded tolerantly: fields Greenhouse adds are ignored.

Every field this service uses is typed and bounded (a bad one is a 422 naming it); fields it does not
use (``last_name``, ``resume_url``, ``phone_number``, ...) are not declared, so they are never read.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

__all__ = [
    "EMAIL_PATTERN",
    "GreenhouseCandidate",
    "PartnerTest",
    "SendTestIn",
    "SendTestOut",
    "TestStatusOut",
]

EMAIL_PATTERN = r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$"
Url = Annotated[str, Meta(min_length=1, max_length=2000, pattern=r"^https?://[^\s]+$")]
Primitive = str | int | float | bool


class _Tolerant(msgspec.Struct, frozen=True, kw_only=True):
    """A body from Greenhouse: unknown fields are ignored (Greenhouse may add some)."""


class GreenhouseCandidate(_Tolerant):
    """The candidate of a ``send_test``: who to greet, where to send the link, which application."""

    first_name: Annotated[str, Meta(min_length=1, max_length=200)]
    email: Annotated[str, Meta(min_length=3, max_length=254, pattern=EMAIL_PATTERN)]
    greenhouse_profile_url: Url | None = None
    greenhouse_application_id: (
        Annotated[int, Meta(ge=1, le=10**15)]
        | Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[0-9]+$")]
        | None
    ) = None


class SendTestIn(_Tolerant):
    """``POST send_test``: which test (rubric), for whom, and the URL to PATCH when it is complete."""

    partner_test_id: Annotated[str, Meta(min_length=1, max_length=100)]
    candidate: GreenhouseCandidate
    url: Url


class SendTestOut(msgspec.Struct, frozen=True):
    """The invitation's id, which Greenhouse sends back to ``test_status``."""

    partner_interview_id: str


class PartnerTest(msgspec.Struct, frozen=True):
    """One test Greenhouse can send: a rubric visible to the organisation."""

    partner_test_id: str
    partner_test_name: str


class TestStatusOut(msgspec.Struct, frozen=True, omit_defaults=True):
    """``GET test_status``: the state, and once complete the review page, the 0-100 score and flat metadata."""

    __test__ = False  # not a pytest class

    partner_status: str
    partner_profile_url: str | None = None
    partner_score: float | None = None
    metadata: dict[str, Primitive] = msgspec.field(default_factory=dict)
