"""Helpers the API tests import (by this unique module name: ``conftest`` is also the engine suite's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.auth import hash_token, new_token
from api.db.engine import create_engine
from api.db.models import ApiKey, utcnow
from screening.paths import builtin_rubrics_dir
from screening.rubric import RubricLibrary

if TYPE_CHECKING:
    from api.settings import Settings

__all__ = [
    "BUILTIN_VERSION",
    "EXAMPLES",
    "REPO_ROOT",
    "RUBRIC",
    "add_key",
    "assert_problem",
    "raw_report",
    "screening_body",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [json.loads(line) for line in (REPO_ROOT / "examples" / "candidates.jsonl").read_text().splitlines() if line]
RUBRIC = "customer-service-attitude"
BUILTIN_VERSION = RubricLibrary.from_folder(builtin_rubrics_dir()).get(RUBRIC).version


async def add_key(settings: Settings, org: str, role: str) -> tuple[str, dict[str, str]]:
    """Store a new key; ``(key_id, headers)``."""
    key_id, token = new_token()
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                ApiKey.__table__.insert().values(
                    id=key_id, org_id=org, role=role, name="test", token_sha256=hash_token(token), created_at=utcnow()
                )
            )
    finally:
        await engine.dispose()
    return key_id, {"Authorization": f"Bearer {token}"}


def screening_body(example: int = 0, answers: int = 2, **changes: Any) -> dict[str, Any]:
    """A screening request from one of the example candidates (its first ``answers`` answers: scoring is slow)."""
    candidate = EXAMPLES[example]
    body = {
        "candidate_id": candidate["candidate_id"],
        "application_id": f"app-{candidate['candidate_id']}",
        "rubric": {"id": RUBRIC},
        "answers": [dict(a) for a in candidate["answers"][:answers]],
    }
    body.update(changes)
    return body


def raw_report(body: bytes) -> bytes:
    """The ``report`` member of a screening response, as the exact bytes sent."""
    start = body.index(b'"report":') + len(b'"report":')
    end = body.index(b',"decision":', start)
    return body[start:end]


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    """The response is RFC 9457 problem details of this status and type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].endswith("/" + slug), problem
    assert problem["title"] and problem["detail"]
    return problem
