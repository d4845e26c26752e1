"""Helpers for the review-page tests: a needs-review screening, sign-in through the form, CSRF tokens."""

from __future__ import annotations

import re
from typing import Any

from api_support import RUBRIC

__all__ = ["NEEDS_REVIEW_BODY", "csrf_of", "sign_in", "token_of"]

# The first answer copies a level-5 reference response word for word (needs_review: copied_reference);
# the second has a deflection, a red flag and a good sentence, so the page shows each kind of mark.
NEEDS_REVIEW_BODY: dict[str, Any] = {
    "candidate_id": "cand-ui-1",
    "application_id": "app-ui-1",
    "rubric": {"id": RUBRIC},
    "answers": [
        {
            "question_id": "broken-gift",
            "text": "I'd tell her I'm dealing with it myself, get a replacement booked on a same-day courier, "
            "and ring her back personally this afternoon to confirm it's on its way.",
        },
        {
            "question_id": "sales-needs-figures",
            "text": "It's not my job, so I wouldn't do it. I'd tell them to ask their manager. "
            "I would never blame the colleague though. I'd ask what they need and send what I can by lunch.",
        },
    ],
}

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def token_of(headers: dict[str, str]) -> str:
    """The API token in ``Authorization: Bearer`` headers."""
    return headers["Authorization"].removeprefix("Bearer ")


async def sign_in(client: Any, headers: dict[str, str], next_path: str = "") -> Any:
    """Sign in through the form (GET for its CSRF token, then POST); the POST's response."""
    form = await client.get("/ui/sign-in", params={"next": next_path} if next_path else None)
    assert form.status_code == 200, form.text
    data = {"api_key": token_of(headers), "csrf_token": csrf_of(form.text), "next": next_path}
    return await client.post("/ui/sign-in", data=data, follow_redirects=False)
