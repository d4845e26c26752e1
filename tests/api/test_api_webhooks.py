"""Webhooks: signatures, the retry schedule on a controllable clock, the transactional outbox, the address
rules, the delivery log and redelivery, erasure and tenant isolation, with real receivers (uvicorn on
loopback) on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio
from api_support import EXAMPLES, REPO_ROOT, add_key, assert_problem, screening_body
from browser_support import serve
from conftest import make_settings
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from webhook_support import Receiver, self_signed, serve_tls

import api.screening_service
from api.app import create_app
from api.db.engine import create_engine, migrate, session_factory
from api.db.models import Base, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from api.metrics import Metrics
from api.settings import Settings
from api.webhook_addresses import denied_reason
from api.webhook_delivery import JITTER, MAX_ATTEMPTS, RETRY_MINUTES, WebhookSender
from api.webhook_events import WAKE_KEY, record_event
from api.webhook_signature import InvalidSignature, new_secret, sign, verify_signature

SECRET = "whsec_test-secret-of-the-receiver"
HOOKS = {"webhook_allow_private": True, "webhook_allow_http": True, "webhook_poll_seconds": 0.2}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    """A real receiver on loopback and its base URL."""
    app = Receiver()
    with serve(app) as url:
        yield app, url


@pytest.fixture
def hook_settings(backend: str, tmp_path: Path) -> Settings:
    """Migrated storage of the backend, with webhooks allowed to loopback over http (as tests need)."""
    return make_settings(backend, tmp_path, **HOOKS)


@pytest_asyncio.fixture
async def sessions(hook_settings: Settings) -> Iterator[async_sessionmaker]:
    engine = create_engine(hook_settings.database_url)
    yield session_factory(engine)
    await engine.dispose()


async def _endpoint(sessions: async_sessionmaker, url: str, org: str = "acme", events: tuple[str, ...] = ()) -> str:
    """Store an enabled endpoint directly (as registration would, without its URL checks)."""
    endpoint_id = f"ep-{random.randrange(10**9)}"
    now = Clock()()
    async with sessions() as session, session.begin():
        session.add(
            WebhookEndpoint(
                id=endpoint_id, org_id=org, url=url, events=list(events or ("screening.scored", "job.completed")),
                description="", secret=SECRET, status="enabled", created_by="k", created_at=now, updated_at=now,
            )
        )  # fmt: skip
    return endpoint_id


async def _emit(sessions: async_sessionmaker, at: datetime, org: str = "acme", n: int = 1) -> list[str]:
    ids = []
    async with sessions() as session, session.begin():
        for i in range(n):
            event_id = await record_event(
                session, org_id=org, event_type="job.completed", data={"job_id": f"job-{i}"}, at=at
            )
            ids.append(event_id)
    return ids


async def _deliveries(sessions: async_sessionmaker) -> list[WebhookDelivery]:
    async with sessions() as session:
        return list((await session.execute(select(WebhookDelivery).order_by(WebhookDelivery.created_at))).scalars())


# --- signatures --------------------------------------------------------------------------------------------


def test_signature_verifies_and_rejects_tampering_replay_and_wrong_secret() -> None:
    body = b'{"id":"e1","type":"screening.scored","data":{"screening_id":"s1"}}'
    header = sign(SECRET, body, 1_700_000_000)
    assert verify_signature(SECRET, header, body, now=1_700_000_100) == 1_700_000_000
    rejected = {
        "tampered body": (SECRET, header, body.replace(b"s1", b"s2"), 1_700_000_000),
        "old timestamp": (SECRET, header, body, 1_700_000_000 + 301),
        "future timestamp": (SECRET, header, body, 1_700_000_000 - 301),
        "wrong secret": (new_secret(), header, body, 1_700_000_000),
        "no v1": (SECRET, "t=1700000000", body, 1_700_000_000),
        "no t": (SECRET, header.split(",")[1], body, 1_700_000_000),
        "garbage": (SECRET, "hello", body, 1_700_000_000),
        "retimed": (SECRET, header.replace("t=1700000000", "t=1700000001"), body, 1_700_000_000),
    }
    for case, (secret, head, raw, now) in rejected.items():
        with pytest.raises(InvalidSignature):
            verify_signature(secret, head, raw, now=now)
            pytest.fail(case)
    # the digest is HMAC-SHA256 over "<t>.<raw body>", as documented
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_readme_verification_snippet_matches_the_sender() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("### Verifying a delivery") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README snippet", "exec"), namespace)
    verify = namespace["verify"]
    body = b'{"id":"e1"}'
    header = sign(SECRET, body, 1_700_000_000)
    assert verify(SECRET, header, body, now=1_700_000_010) is True
    assert verify(SECRET, header, body + b" ", now=1_700_000_010) is False
    assert verify(SECRET, header, body, now=1_700_000_000 + 3600) is False
    assert verify("whsec_other", header, body, now=1_700_000_010) is False


# --- the retry schedule, on a controllable clock, against a real receiver -----------------------------------


@pytest.mark.asyncio
async def test_retry_schedule_backs_off_then_disables_the_endpoint(hook_settings, sessions, receiver, caplog) -> None:
    app, url = receiver
    app.status = 503
    endpoint_id = await _endpoint(sessions, url + "/hooks")
    clock, metrics = Clock(), Metrics()
    sender = WebhookSender(sessions, hook_settings, metrics, clock=clock, rng=random.Random(11))
    [event_id] = await _emit(sessions, clock.now)
    start = clock.now
    waits: list[float] = []
    sent_at: list[float] = []
    caplog.set_level(logging.ERROR, logger="api.webhooks")
    try:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            sent_at.append(clock.now.timestamp())
            assert await sender.run_once() == 1, attempt
            assert len(app.received) == attempt
            [row] = await _deliveries(sessions)
            assert row.attempts == attempt and row.last_status_code == 503
            if attempt == MAX_ATTEMPTS:
                break
            assert row.status == "pending"
            wait = (row.next_attempt_at - clock.now).total_seconds() / 60
            nominal = RETRY_MINUTES[attempt - 1]
            assert nominal * (1 - JITTER) <= wait <= nominal * (1 + JITTER), (attempt, wait)
            waits.append(wait)
            clock.now = row.next_attempt_at - timedelta(seconds=1)  # not due yet: nothing is sent
            assert await sender.run_once() == 0
            clock.now = row.next_attempt_at
    finally:
        await sender.aclose()
    assert waits != RETRY_MINUTES  # jittered
    total_hours = (clock.now - start).total_seconds() / 3600
    assert sum(RETRY_MINUTES) / 60 * (1 - JITTER) <= total_hours <= sum(RETRY_MINUTES) / 60 * (1 + JITTER)
    [row] = await _deliveries(sessions)
    assert row.status == "dead" and row.next_attempt_at is None
    async with sessions() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        attempts = (await session.execute(select(func.count()).select_from(WebhookAttempt))).scalar_one()
    assert endpoint.status == "disabled" and "failed 7 times" in endpoint.disabled_reason
    assert attempts == MAX_ATTEMPTS
    assert metrics.webhook_deliveries.labels("failed")._value.get() == MAX_ATTEMPTS - 1
    assert metrics.webhook_deliveries.labels("dead")._value.get() == 1
    assert metrics.webhook_endpoints_disabled._value.get() == 1
    assert any("disabled" in r.message and endpoint_id in r.message for r in caplog.records)
    # every attempt carried the same event id and a valid signature made at the clock's time
    for request in app.received:
        assert request.headers["screening-event-id"] == event_id
        assert request.headers["content-type"] == "application/json"
    assert [r.verify(SECRET, now=t) for r, t in zip(app.received, sent_at, strict=True)] == [int(t) for t in sent_at]
    # a disabled endpoint gets nothing, even when a new event is due
    await _emit(sessions, clock.now)
    clock.now += timedelta(hours=1)
    assert await sender.run_once() == 0


@pytest.mark.asyncio
async def test_each_attempt_is_signed_at_send_time(hook_settings, sessions, receiver) -> None:
    app, url = receiver
    app.status = 500
    await _endpoint(sessions, url)
    clock = Clock()
    sender = WebhookSender(sessions, hook_settings, Metrics(), clock=clock, rng=random.Random(1))
    await _emit(sessions, clock.now)
    try:
        await sender.run_once()
        [row] = await _deliveries(sessions)
        clock.now = row.next_attempt_at
        await sender.run_once()
    finally:
        await sender.aclose()
    first, second = app.received
    assert first.body == second.body
    assert first.verify(SECRET, now=Clock()().timestamp()) == int(Clock()().timestamp())
    assert second.verify(SECRET, now=clock.now.timestamp()) == int(clock.now.timestamp())
    assert first.headers["screening-signature"] != second.headers["screening-signature"]
    with pytest.raises(InvalidSignature):  # replaying the first request after the tolerance is refused
        first.verify(SECRET, now=Clock()().timestamp() + 301)


# --- the outbox is transactional -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_rolled_back_change_leaves_no_event_and_committed_one_waits_for_the_sender(
    hook_settings, sessions, receiver
) -> None:
    app, url = receiver
    await _endpoint(sessions, url)
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            await record_event(session, org_id="acme", event_type="job.completed", data={"job_id": "j"})
            raise RuntimeError("the change failed after its event was recorded")
    assert await _deliveries(sessions) == []
    # committed while no sender runs: kept, and sent when a sender runs later
    [event_id] = await _emit(sessions, Clock()())
    assert [d.status for d in await _deliveries(sessions)] == ["pending"]
    sender = WebhookSender(sessions, hook_settings, Metrics(), clock=lambda: Clock()() + timedelta(seconds=5))
    try:
        assert await sender.run_once() == 1
    finally:
        await sender.aclose()
    assert [e["id"] for e in app.events()] == [event_id]
    assert [d.status for d in await _deliveries(sessions)] == ["delivered"]


@pytest.mark.asyncio
async def test_a_commit_with_events_wakes_the_sender_and_a_rollback_does_not(sessions, receiver) -> None:
    _, url = receiver
    await _endpoint(sessions, url)
    wake = asyncio.Event()
    sessions.configure(info={WAKE_KEY: wake})
    try:
        async with sessions() as session, session.begin():
            await record_event(session, org_id="acme", event_type="job.completed", data={"job_id": "j"})
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert not wake.is_set()
    async with sessions() as session:
        async with session.begin():
            await record_event(session, org_id="acme", event_type="job.completed", data={"job_id": "j"})
            assert not wake.is_set()  # not before the commit: the sender would find nothing
        assert wake.is_set()


@pytest.mark.asyncio
async def test_a_screening_whose_transaction_fails_emits_nothing(hook_settings, scorer, receiver, monkeypatch) -> None:
    app, url = receiver
    _, admin = await add_key(hook_settings, "acme", "hr_admin")
    _, ats = await add_key(hook_settings, "acme", "integration")
    async with AsyncTestClient(app=create_app(hook_settings, scorer=scorer)) as client:
        created = await client.post("/v1/webhooks", json={"url": url, "events": ["screening.scored"]}, headers=admin)
        assert created.status_code == 201, created.text

        async def broken_render(*_: Any) -> bytes:
            raise RuntimeError("failure after the event was recorded")

        monkeypatch.setattr(api.screening_service, "render", broken_render)
        response = await client.post("/v1/screenings", json=screening_body(), headers=ats)
        assert_problem(response, 500, "internal-error")
        monkeypatch.undo()
        endpoint_id = created.json()["endpoint"]["id"]
        log = await client.get(f"/v1/webhooks/{endpoint_id}/deliveries", headers=admin)
        assert log.json() == []
        assert (await client.get("/v1/screenings", headers=admin)).json()["items"] == []
    assert app.received == []


# --- end to end through the API, with the service's own sender loop ----------------------------------------


@pytest.mark.asyncio
async def test_register_screen_review_and_redeliver_end_to_end(  # noqa: PLR0915  # one story, told in order
    hook_settings, scorer, receiver
) -> None:
    app, url = receiver
    _, admin = await add_key(hook_settings, "acme", "hr_admin")
    _, ats = await add_key(hook_settings, "acme", "integration")
    events = ["screening.scored", "screening.needs_review", "screening.reviewed"]
    async with AsyncTestClient(app=create_app(hook_settings, scorer=scorer)) as client:
        created = await client.post("/v1/webhooks", json={"url": url + "/in", "events": events}, headers=admin)
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        endpoint = created.json()["endpoint"]
        assert secret.startswith("whsec_") and endpoint["status"] == "enabled"
        listed = await client.get("/v1/webhooks", headers=admin)
        assert secret not in listed.text and [e["id"] for e in listed.json()] == [endpoint["id"]]
        assert secret not in (await client.get(f"/v1/webhooks/{endpoint['id']}", headers=admin)).text

        body = screening_body(example=0, answers=2)
        screening = (await client.post("/v1/screenings", json=body, headers=ats)).json()
        [scored] = await asyncio.to_thread(app.wait_for, 1, "screening.scored")
        data = scored["data"]
        assert data["screening_id"] == screening["id"]
        assert data["candidate_id"] == body["candidate_id"] and data["application_id"] == body["application_id"]
        assert data["status"] == screening["status"]
        assert data["overall_level"] == screening["report"]["overall"]["level"]
        assert {d["dimension_id"] for d in data["dimensions"]} == {
            d["dimension_id"] for d in screening["report"]["dimensions"]
        }
        assert data["links"] == {
            "screening": f"/v1/screenings/{screening['id']}",
            "review_page": f"/ui/screenings/{screening['id']}",
        }
        request = app.received[0]
        assert request.path == "/in"
        assert request.verify(secret, now=datetime.now(UTC).timestamp())
        assert request.headers["screening-event-type"] == "screening.scored"
        assert request.headers["screening-event-id"] == scored["id"]

        review = {"action": "override", "target": "overall", "level": 4, "reason": "Strong at interview."}
        assert (
            await client.post(f"/v1/screenings/{screening['id']}/reviews", json=review, headers=admin)
        ).status_code == 201
        [reviewed] = await asyncio.to_thread(app.wait_for, 1, "screening.reviewed")
        assert reviewed["data"]["status"] == "reviewed"
        assert reviewed["data"]["review"]["level"] == 4 and reviewed["data"]["review"]["action"] == "override"

        # answer text and the reviewer's reason never appear in any payload
        answer_texts = [a["text"] for a in body["answers"]]
        for received in app.received:
            text = received.body.decode()
            for answer in answer_texts:
                assert answer not in text
                assert answer[:40] not in text
            assert "Strong at interview" not in text

        log = (await client.get(f"/v1/webhooks/{endpoint['id']}/deliveries", headers=admin)).json()
        assert {d["status"] for d in log} == {"delivered"} and {d["attempts"] for d in log} == {1}
        delivery = next(d for d in log if d["event_type"] == "screening.scored")
        detail = (await client.get(f"/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}", headers=admin)).json()
        assert [(a["attempt"], a["status_code"]) for a in detail["attempts"]] == [(1, 200)]

        again = await client.post(f"/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/redeliver", headers=admin)
        assert again.status_code == 202, again.text
        assert again.json()["redelivery_of"] == delivery["id"] and again.json()["event_id"] == scored["id"]
        redelivered = await asyncio.to_thread(app.wait_for, 2, "screening.scored")
        assert redelivered[1] == scored  # same event id and body: the receiver dedupes on the id

        pending = await client.post(
            f"/v1/webhooks/{endpoint['id']}/deliveries/{again.json()['id']}/redeliver", headers=admin
        )
        if pending.status_code != 202:  # not yet delivered: still in progress
            assert_problem(pending, 409, "delivery-in-progress")

        metrics = (await client.get("/metrics")).text
        assert 'screening_webhook_deliveries_total{result="sent"}' in metrics
        assert "screening_webhook_outbox_backlog" in metrics
        assert "screening_webhook_disabled_endpoints 0.0" in metrics


@pytest.mark.asyncio
async def test_disabled_endpoint_holds_events_until_enabled(hook_settings, scorer, receiver) -> None:
    app, url = receiver
    _, admin = await add_key(hook_settings, "acme", "hr_admin")
    _, ats = await add_key(hook_settings, "acme", "integration")
    async with AsyncTestClient(app=create_app(hook_settings, scorer=scorer)) as client:
        created = (
            await client.post("/v1/webhooks", json={"url": url, "events": ["screening.scored"]}, headers=admin)
        ).json()
        endpoint_id = created["endpoint"]["id"]
        disabled = await client.post(f"/v1/webhooks/{endpoint_id}/disable", headers=admin)
        assert disabled.json()["status"] == "disabled" and disabled.json()["disabled_reason"]
        screening = (await client.post("/v1/screenings", json=screening_body(), headers=ats)).json()
        await asyncio.sleep(1.0)  # five polls of the sender
        assert app.received == []
        [waiting] = (await client.get(f"/v1/webhooks/{endpoint_id}/deliveries?status=pending", headers=admin)).json()
        assert waiting["attempts"] == 0
        assert (await client.post(f"/v1/webhooks/{endpoint_id}/enable", headers=admin)).json()["status"] == "enabled"
        [event] = await asyncio.to_thread(app.wait_for, 1)
        assert event["data"]["screening_id"] == screening["id"]
        assert (await client.delete(f"/v1/webhooks/{endpoint_id}", headers=admin)).status_code == 204
        assert_problem(await client.get(f"/v1/webhooks/{endpoint_id}", headers=admin), 404, "not-found")


@pytest.mark.asyncio
async def test_a_finished_job_sends_job_completed_without_candidates(tmp_path, scorer, receiver) -> None:
    app, url = receiver
    settings = make_settings("embedded", tmp_path, **HOOKS)  # no Redis: jobs run in this process
    _, admin = await add_key(settings, "acme", "hr_admin")
    _, ats = await add_key(settings, "acme", "integration")
    async with AsyncTestClient(app=create_app(settings, scorer=scorer)) as client:
        hook = await client.post("/v1/webhooks", json={"url": url, "events": ["job.completed"]}, headers=admin)
        assert hook.status_code == 201, hook.text
        lines = [screening_body(i, application_id=f"job-hook-{i}") for i in range(2)]
        body = b"\n".join(msgspec.json.encode(line) for line in lines)
        headers = {**ats, "Content-Type": "application/x-ndjson"}
        accepted = await client.post("/v1/screening-jobs", content=body, headers=headers)
        assert accepted.status_code == 202, accepted.text
        [event] = await asyncio.to_thread(app.wait_for, 1, "job.completed", 120.0)
    job = accepted.json()
    assert event["data"]["job_id"] == job["id"] and event["data"]["status"] == "scored"
    assert (event["data"]["total"], event["data"]["scored"], event["data"]["failed"]) == (2, 2, 0)
    assert event["data"]["links"]["job"] == f"/v1/screening-jobs/{job['id']}"
    raw = app.received[-1].body.decode()
    assert "job-hook-" not in raw and lines[0]["answers"][0]["text"][:30] not in raw, "no candidate ids, no answers"


# --- outbound rules: address deny-list, redirects, timeouts ----------------------------------------------


@pytest.mark.asyncio
async def test_private_addresses_are_refused_unless_the_operator_allows_them(backend, tmp_path, receiver) -> None:
    app, url = receiver
    settings = make_settings(backend, tmp_path, webhook_allow_http=True)  # loopback not allowed
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    try:
        await _endpoint(sessions, url)
        await _emit(sessions, Clock()())
        sender = WebhookSender(sessions, settings, Metrics(), clock=lambda: Clock()() + timedelta(seconds=1))
        try:
            assert await sender.run_once() == 1
        finally:
            await sender.aclose()
        [row] = await _deliveries(sessions)
        assert row.status == "pending" and row.last_status_code is None
        assert "loopback address; refused" in row.last_error
        assert app.received == []
    finally:
        await engine.dispose()


@pytest.mark.asyncio
async def test_redirects_are_not_followed_and_slow_receivers_time_out(backend, tmp_path, receiver) -> None:
    app, url = receiver
    settings = make_settings(backend, tmp_path, webhook_timeout_seconds=0.5, **HOOKS)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    clock = Clock()
    sender = WebhookSender(sessions, settings, Metrics(), clock=clock)
    try:
        await _endpoint(sessions, url)
        app.status, app.redirect_to = 307, url + "/elsewhere"
        await _emit(sessions, clock.now)
        assert await sender.run_once() == 1
        [row] = await _deliveries(sessions)
        assert row.status == "pending" and row.last_status_code == 307 and "redirect" in row.last_error
        assert [r.path for r in app.received] == ["/"]  # the redirect target was never asked
        app.status, app.redirect_to, app.delay = 200, None, 2.0
        clock.now = row.next_attempt_at
        assert await sender.run_once() == 1
        [row] = await _deliveries(sessions)
        assert row.status == "pending" and row.attempts == 2 and "timed out after 0.5 s" in row.last_error
    finally:
        await sender.aclose()
        await engine.dispose()


@pytest.mark.asyncio
async def test_registration_validates_every_field(hook_settings, scorer) -> None:
    strict = msgspec.structs.replace(hook_settings, webhook_allow_http=False, webhook_allow_private=False)
    _, admin = await add_key(hook_settings, "acme", "hr_admin")
    _, recruiter = await add_key(hook_settings, "acme", "recruiter")
    ok = {"url": "https://ats.example.com/hooks/screening", "events": ["screening.scored"]}
    async with AsyncTestClient(app=create_app(strict, scorer=scorer)) as client:
        assert (await client.post("/v1/webhooks", json=ok, headers=admin)).status_code == 201
        assert_problem(await client.post("/v1/webhooks", json=ok, headers=recruiter), 403, "forbidden")
        cases = {
            "http://ats.example.com/h": "url",
            "https://user:pw@ats.example.com/h": "url",
            "https://ats.example.com/h#frag": "url",
            "https://127.0.0.1/h": "url",
            "https://[::1]/h": "url",
            "https://169.254.169.254/latest/meta-data": "url",
            "https://10.0.0.8/h": "url",
            "https://localhost/h": "url",
            "https://ats.example.com:99999/h": "url",
            "https://ats.example.com/h h": "url",
            "ftp://ats.example.com/h": "url",
            "https:///nohost": "url",
            "https://ats.example.com/" + "a" * 2100: "url",
        }
        for bad, field in cases.items():
            problem = assert_problem(
                await client.post("/v1/webhooks", json={**ok, "url": bad}, headers=admin), 422, "validation-error"
            )
            assert [e["path"] for e in problem["errors"]] == [field], (bad, problem)
        for body, field in (
            ({**ok, "events": []}, "events"),
            ({**ok, "events": ["screening.deleted"]}, "events[0]"),
            ({**ok, "secret": "mine"}, "secret"),
            ({"events": ["job.completed"]}, "url"),
        ):
            problem = assert_problem(
                await client.post("/v1/webhooks", json=body, headers=admin), 422, "validation-error"
            )
            assert problem["errors"][0]["path"] == field, problem


@pytest.mark.asyncio
async def test_another_organisations_endpoints_are_not_found(hook_settings, scorer, receiver) -> None:
    _, url = receiver
    _, acme = await add_key(hook_settings, "acme", "hr_admin")
    _, other = await add_key(hook_settings, "globex", "hr_admin")
    async with AsyncTestClient(app=create_app(hook_settings, scorer=scorer)) as client:
        created = (
            await client.post("/v1/webhooks", json={"url": url, "events": ["job.completed"]}, headers=acme)
        ).json()
        endpoint_id = created["endpoint"]["id"]
        assert (await client.get("/v1/webhooks", headers=other)).json() == []
        for method, path in (
            ("GET", f"/v1/webhooks/{endpoint_id}"),
            ("GET", f"/v1/webhooks/{endpoint_id}/deliveries"),
            ("GET", f"/v1/webhooks/{endpoint_id}/deliveries/x"),
            ("POST", f"/v1/webhooks/{endpoint_id}/deliveries/x/redeliver"),
            ("POST", f"/v1/webhooks/{endpoint_id}/disable"),
            ("DELETE", f"/v1/webhooks/{endpoint_id}"),
        ):
            assert_problem(await client.request(method, path, headers=other), 404, "not-found")
        assert (await client.get(f"/v1/webhooks/{endpoint_id}", headers=acme)).json()["status"] == "enabled"
        assert_problem(
            await client.get(f"/v1/webhooks/{endpoint_id}/deliveries?before=yesterday", headers=acme),
            422,
            "validation-error",
        )


# --- several workers, erasure, schema ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_concurrent_senders_never_send_a_delivery_twice(hook_settings, sessions, receiver) -> None:
    app, url = receiver
    await _endpoint(sessions, url)
    clock = Clock()
    ids = await _emit(sessions, clock.now, n=30)
    settings = msgspec.structs.replace(hook_settings, webhook_concurrency=4)
    later = lambda: clock.now + timedelta(seconds=1)  # noqa: E731
    senders = [WebhookSender(sessions, settings, Metrics(), clock=later) for _ in range(3)]
    try:
        for _ in range(20):
            if sum(await asyncio.gather(*(s.run_once() for s in senders))) == 0:
                break
    finally:
        for sender in senders:
            await sender.aclose()
    got = [e["id"] for e in app.events()]
    assert sorted(got) == sorted(ids)  # each once
    assert {d.status for d in await _deliveries(sessions)} == {"delivered"}


@pytest.mark.asyncio
async def test_erasure_deletes_the_candidates_deliveries(hook_settings, scorer, receiver) -> None:
    _, url = receiver
    _, admin = await add_key(hook_settings, "acme", "hr_admin")
    _, ats = await add_key(hook_settings, "acme", "integration")
    async with AsyncTestClient(app=create_app(hook_settings, scorer=scorer)) as client:
        created = (
            await client.post("/v1/webhooks", json={"url": url, "events": ["screening.scored"]}, headers=admin)
        ).json()
        endpoint_id = created["endpoint"]["id"]
        await client.post(f"/v1/webhooks/{endpoint_id}/disable", headers=admin)  # keep them pending
        erased, kept = EXAMPLES[0]["candidate_id"], EXAMPLES[1]["candidate_id"]
        await client.post("/v1/screenings", json=screening_body(example=0), headers=ats)
        await client.post("/v1/screenings", json=screening_body(example=1), headers=ats)
        assert len((await client.get(f"/v1/webhooks/{endpoint_id}/deliveries", headers=admin)).json()) == 2
        response = await client.delete(f"/v1/candidates/{erased}", headers=admin)
        assert response.status_code == 200, response.text
    engine = create_engine(hook_settings.database_url)
    async with session_factory(engine)() as session:
        rows = list((await session.execute(select(WebhookDelivery))).scalars())
    await engine.dispose()
    assert [r.candidate_id for r in rows] == [kept]
    assert all(erased.encode() not in r.payload for r in rows)


@pytest.mark.asyncio
async def test_webhook_tables_match_the_migration(tmp_path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url = f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}"
    await asyncio.to_thread(migrate, url)
    engine = create_engine(url)
    async with engine.connect() as connection:
        diff = await connection.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    await engine.dispose()
    webhook_diff = [d for d in diff if "webhook" in repr(d)]
    assert webhook_diff == []


def test_address_deny_list() -> None:
    denied = {
        "127.0.0.1": "loopback",
        "::1": "loopback",
        "::ffff:127.0.0.1": "loopback",
        "169.254.169.254": "link-local",
        "fe80::1": "link-local",
        "10.1.2.3": "private",
        "192.168.0.10": "private",
        "fd00::1": "private",
        "0.0.0.0": "unspecified",
        "224.0.0.1": "multicast",
        "100.64.0.1": "not public",
    }
    for address, reason in denied.items():
        assert denied_reason(ipaddress.ip_address(address)) == reason, address
    for public in ("93.184.215.14", "2606:4700::1111"):
        assert denied_reason(ipaddress.ip_address(public)) is None


@pytest.mark.asyncio
async def test_https_goes_to_the_checked_address_with_the_host_name_verified(hook_settings, sessions, tmp_path) -> None:
    cert, key = self_signed(tmp_path, "localhost")
    other_cert, other_key = self_signed(tmp_path, "other.test")
    bundle = tmp_path / "internal-ca.pem"  # both trusted: only the name decides
    bundle.write_bytes(cert.read_bytes() + other_cert.read_bytes())
    settings = msgspec.structs.replace(hook_settings, webhook_ca_file=str(bundle))
    app = Receiver()
    clock = Clock()
    sender = WebhookSender(sessions, settings, Metrics(), clock=clock)
    try:
        with serve_tls(app, cert, key) as port:
            await _endpoint(sessions, f"https://localhost:{port}/tls?x=1")
            await _emit(sessions, clock.now)
            assert await sender.run_once() == 1
            [row] = await _deliveries(sessions)
            assert row.status == "delivered", row.last_error
            [request] = app.received
            assert request.path == "/tls" and request.headers["host"] == f"localhost:{port}"
            assert request.verify(SECRET, now=clock.now.timestamp())
        with serve_tls(app, other_cert, other_key) as port:  # a certificate for another name: refused
            await _endpoint(sessions, f"https://localhost:{port}/tls", org="globex")
            await _emit(sessions, clock.now, org="globex")
            assert await sender.run_once() == 1
            failed = [d for d in await _deliveries(sessions) if d.status != "delivered"]
            assert len(failed) == 1 and "CERTIFICATE_VERIFY_FAILED" in failed[0].last_error
            assert len(app.received) == 1
    finally:
        await sender.aclose()
