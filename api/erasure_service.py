"""Erasure on a data-protection request: delete a candidate's records, then purge what the database kept.

Rows are deleted (not nulled). SQLite runs with ``secure_delete`` (freed pages are zeroed) and its
write-ahead log is checkpointed and truncated after an erasure; PostgreSQL tables are vacuumed so the
dead row versions are reclaimed. The audit log keeps one entry per erased record, without personal data.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api import idempotency
from api.auth import Principal
from api.db import calibrations, invitations, jobs, repo
from api.db.engine import BUSY_TIMEOUT_MS
from api.db.models import WebhookDelivery
from api.domain import NotFound
from api.services import Services

__all__ = ["erase", "purge_deleted"]

log = logging.getLogger("api")
ERASED_TABLES = (
    "screenings",
    "model_results",
    "reviews",
    "idempotency_keys",
    "demographics",
    "gold_answers",
    "calibrations",
    "webhook_deliveries",
    "webhook_attempts",
    "greenhouse_invitations",
    "screening_job_items",
    "review_links",
)
CHECKPOINT_WAIT_MS = 2000  # a reader holding the WAL must not stall the erasure (or other writers) for long


async def purge_deleted(engine: AsyncEngine) -> None:
    """Make deleted rows unreadable on disk (best effort: the deletion itself is already committed)."""
    try:
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "sqlite":
                await autocommit.exec_driver_sql(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
                try:
                    busy, _, _ = (await autocommit.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
                finally:
                    await autocommit.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                if busy:
                    log.warning(
                        "erasure purge incomplete: a reader holds the SQLite WAL; the next checkpoint clears it"
                    )
            elif engine.dialect.name == "postgresql":
                await autocommit.exec_driver_sql(f"VACUUM {', '.join(ERASED_TABLES)}")
    except Exception as exc:  # the erasure stands; the purge is retried by the next one
        log.warning("could not purge erased rows: %s: %s", type(exc).__name__, exc)


async def _erase_webhook_deliveries(session: AsyncSession, org_id: str, candidate_id: str) -> int:
    """Delete every webhook delivery about the candidate (pending ones are never sent); how many."""
    query = delete(WebhookDelivery).where(
        WebhookDelivery.org_id == org_id, WebhookDelivery.candidate_id == candidate_id
    )
    return int((await session.execute(query)).rowcount or 0)


async def erase(services: Services, session: AsyncSession, principal: Principal, candidate_id: str) -> tuple[int, int]:
    """Erase every screening, rated (gold) answer, webhook delivery, Greenhouse invitation (with its draft)
    and the self-identification of a candidate, and scrub them from stored calibration results;
    ``(records erased, last audit seq)``.

    404 when the organisation holds nothing of the candidate.
    """
    async with session.begin():
        # first the rows a scoring in flight re-reads before it stores (job items, invitations): locked here,
        # a store waits for this erasure and then refuses, or stored before and is erased below with the rest
        queued = await jobs.erase_candidate_items(session, principal.org_id, candidate_id)
        invited = await invitations.erase_candidate(session, principal.org_id, candidate_id)
        ids, keys = await repo.erase_candidate(session, principal.org_id, candidate_id)
        had_demographics = await repo.delete_demographics(session, principal.org_id, candidate_id)
        gold = await calibrations.erase_gold(session, principal.org_id, candidate_id, ids)
        hooks = await _erase_webhook_deliveries(session, principal.org_id, candidate_id)
        if not ids and not had_demographics and not gold and not invited and not queued:
            raise NotFound.plain("No data of this candidate in this organisation (none, or already erased).")
        erased = ["answers", "reports", "reviews", "candidate reference"]
        erased += ["self-identification"] if had_demographics else []
        erased += ["rated answers (calibration gold)"] if gold else []
        erased += ["webhook deliveries naming them"] if hooks else []
        erased += ["Greenhouse invitations (email, draft answers, link)"] if invited else []
        erased += ["answers in screening jobs"] if queued else []
        details = {"reason": "data-protection erasure request", "erased": erased}
        last = 0
        for screening_id in ids or [None]:
            event = await repo.add_audit(session, principal, "erased", screening_id=screening_id, details=details)
            last = event.seq
    for key in keys:
        await idempotency.forget(services.shared, principal, key)
    await purge_deleted(services.engine)
    return len(ids), last
