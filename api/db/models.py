"""Tables. Reports are stored as the exact JSON bytes the engine produced; audit rows are never updated."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "Calibration",
    "DemographicRecord",
    "GoldAnswerRecord",
    "IdempotencyKey",
    "Invitation",
    "ModelResult",
    "Review",
    "ReviewLink",
    "RubricUpload",
    "Screening",
    "ScreeningJob",
    "ScreeningJobItem",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "utcnow",
]


def utcnow() -> datetime:
    """Return now, timezone-aware UTC, microsecond precision."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        """Store UTC; a naive value is refused (it would otherwise be read as the server's local time)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to a UTC column; attach a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        """Read back as aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY columns.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (Alembic needs them)."""

    metadata = MetaData(naming_convention=NAMING)


class ApiKey(Base):
    """An API key: only the sha256 of its token is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RubricUpload(Base):
    """A rubric version uploaded by one organisation, kept as its TOML text."""

    __tablename__ = "rubric_uploads"
    __table_args__ = (UniqueConstraint("org_id", "rubric_id", "version", name="uq_rubric_uploads_org_rubric_version"),)

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(String(64))
    rubric_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(80))
    toml: Mapped[str] = mapped_column(Text)
    uploaded_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Screening(Base):
    """One candidate's screening: the answers, the current model report, and its status."""

    __tablename__ = "screenings"
    __table_args__ = (
        Index("ix_screenings_org_created", "org_id", "created_at", "id"),
        Index("ix_screenings_org_candidate", "org_id", "candidate_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    candidate_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    application_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    rubric_id: Mapped[str] = mapped_column(String(64))
    rubric_version: Mapped[str] = mapped_column(String(32))
    rubric_pinned: Mapped[bool] = mapped_column(default=False)
    rubric_source: Mapped[str] = mapped_column(String(16))  # builtin | organisation
    status: Mapped[str] = mapped_column(String(16))  # scored | needs_review | reviewed | erased
    model_status: Mapped[str] = mapped_column(String(16))
    answers: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    report: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    result_seq: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ModelResult(Base):
    """Every model report a screening ever had, current one included (history of re-scoring)."""

    __tablename__ = "model_results"
    __table_args__ = (UniqueConstraint("screening_id", "seq", name="uq_model_results_screening_seq"),)

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    screening_id: Mapped[str] = mapped_column(ForeignKey("screenings.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    report: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    rubric_version: Mapped[str] = mapped_column(String(32))
    rubric_fingerprint: Mapped[str] = mapped_column(String(80))
    model_id: Mapped[str] = mapped_column(String(200))
    model_status: Mapped[str] = mapped_column(String(16))
    overall_level: Mapped[float | None] = mapped_column(Float, nullable=True)
    overall_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Review(Base):
    """A recruiter's confirmation or override of the overall level or of one dimension."""

    __tablename__ = "reviews"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    screening_id: Mapped[str] = mapped_column(ForeignKey("screenings.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(64))  # "overall" or a dimension id
    action: Mapped[str] = mapped_column(String(16))  # confirm | override
    model_level: Mapped[float | None] = mapped_column(Float, nullable=True)
    level: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewer: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewLink(Base):
    """A signed one-time sign-in link to one screening; ``used_at`` is set once, by the request that opens it."""

    __tablename__ = "review_links"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    screening_id: Mapped[str] = mapped_column(ForeignKey("screenings.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str] = mapped_column(String(32))  # the key that asked for it; sessions act in its name
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IdempotencyKey(Base):
    """An ``Idempotency-Key`` an organisation used, the hash of its body, and the record it made."""

    __tablename__ = "idempotency_keys"

    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    screening_id: Mapped[str] = mapped_column(ForeignKey("screenings.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """Append-only log entry: what happened to a record, who did it, when. Never personal data."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_screening", "org_id", "screening_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(String(64))
    screening_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    actor_key_id: Mapped[str] = mapped_column(String(32))
    actor_role: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DemographicRecord(Base):
    """A candidate's optional self-identification, kept apart from answers and reports; never scored."""

    __tablename__ = "demographics"

    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    sex: Mapped[str | None] = mapped_column(String(40), nullable=True)
    race_ethnicity: Mapped[str | None] = mapped_column(String(60), nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Calibration(Base):
    """A calibration request: gold checked against one rubric version, its job state and its result.

    The job runs in the service's own processes with the database as its queue: ``queued`` until a
    process claims it (``running`` with a lease it renews), then ``done`` with ``result`` (the
    agreement report and the what-if, JSON) or ``failed`` with ``error``. A lease that lapses (the
    process died) lets another claim it; nothing accepted is lost.
    """

    __tablename__ = "calibrations"
    __table_args__ = (
        Index("ix_calibrations_org_rubric", "org_id", "rubric_id", "created_at"),
        Index("ix_calibrations_status", "status", "lease_until"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    rubric_id: Mapped[str] = mapped_column(String(64))
    rubric_version: Mapped[str] = mapped_column(String(32))
    rubric_fingerprint: Mapped[str] = mapped_column(String(80))
    gold_digest: Mapped[str] = mapped_column(String(80))
    answers: Mapped[int] = mapped_column(Integer)
    candidates: Mapped[int] = mapped_column(Integer)
    folds: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    fitted_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class GoldAnswerRecord(Base):
    """One human-rated answer of a calibration's gold (the engine's ``GoldAnswer`` as JSON); erasable."""

    __tablename__ = "gold_answers"
    __table_args__ = (Index("ix_gold_answers_org_candidate", "org_id", "candidate_id"),)

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    calibration_id: Mapped[str] = mapped_column(ForeignKey("calibrations.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[str] = mapped_column(String(64))
    candidate_id: Mapped[str] = mapped_column(String(200))
    line: Mapped[int] = mapped_column(Integer)
    answer: Mapped[bytes] = mapped_column(LargeBinary)


class WebhookEndpoint(Base):
    """A URL an organisation registered to receive events; its signing secret is stored to sign with.

    ``status`` is ``enabled``, or ``disabled`` (by an HR admin, or by the sender after a delivery
    exhausted its retries: then ``disabled_reason`` says why).
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_org_created", "org_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(String(200), default="")
    secret: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))  # enabled | disabled
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """The outbox: one event for one endpoint, written in the transaction of the change it reports.

    ``pending`` until due (``next_attempt_at``), ``sending`` while a worker holds its lease, then
    ``delivered``, or ``pending`` again with a later ``next_attempt_at``, or ``dead`` after the last
    attempt. ``payload`` is the exact JSON body signed and sent; ``candidate_id`` is kept so an
    erasure can delete the deliveries that name the candidate.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
        Index("ix_webhook_deliveries_org_candidate", "org_id", "candidate_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    org_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    candidate_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # pending | sending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    redelivery_of: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookAttempt(Base):
    """One try at sending a delivery: when, the receiver's status code (if it answered) or the error."""

    __tablename__ = "webhook_attempts"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Invitation(Base):
    """A Greenhouse ``send_test``: the candidate's link to answer one rubric, and what happened to it.

    ``id`` is the ``partner_interview_id`` Greenhouse holds (random). The candidate's link carries a
    token derived from the server secret; only its sha256 is stored. ``state`` runs ``sent`` ->
    ``started`` -> ``submitted`` -> ``scored`` (or ``failed``). Three small outboxes live on the row,
    each a due time that a worker claims by moving it forward (its lease) and then clears or
    reschedules: the candidate's email (``mail_*``), scoring after a submission that could not be
    scored at once (``score_*``) and the PATCH to Greenhouse (``callback_*``).
    """

    __tablename__ = "greenhouse_invitations"
    __table_args__ = (
        UniqueConstraint(
            "org_id", "rubric_id", "email", "application_id", name="uq_greenhouse_invitations_org_rubric_email_app"
        ),
        Index("ix_greenhouse_invitations_org_candidate", "org_id", "candidate_id"),
        Index("ix_greenhouse_invitations_mail_next_at", "mail_next_at"),
        Index("ix_greenhouse_invitations_score_next_at", "score_next_at"),
        Index("ix_greenhouse_invitations_callback_next_at", "callback_next_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    rubric_id: Mapped[str] = mapped_column(String(64))
    rubric_version: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(32))  # the integration key that sent it
    candidate_id: Mapped[str] = mapped_column(String(200))  # Greenhouse's person id
    application_id: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    profile_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback_url: Mapped[str] = mapped_column(Text)
    callback_credential: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # Fernet-sealed key
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16))  # sent | started | submitted | scored | failed
    draft: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # {question_id: text} as JSON
    screening_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    review_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    mail_attempts: Mapped[int] = mapped_column(Integer, default=0)
    mail_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    mail_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    mail_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    score_attempts: Mapped[int] = mapped_column(Integer, default=0)
    score_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    score_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0)
    callback_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    callback_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScreeningJob(Base):
    """An accepted asynchronous request: one screening (``single``) or an NDJSON batch of them (``batch``).

    Written with its items in the transaction that accepts the request, so nothing answered ``202``
    is lost; Redis (when configured) only wakes the workers. ``status`` is ``queued``, ``running``,
    then ``scored`` (every item finished, at least one scored) or ``failed`` (every item failed:
    ``problem`` says why for a single job). ``scored`` and ``failed`` count finished items.
    """

    __tablename__ = "screening_jobs"
    __table_args__ = (
        Index("ix_screening_jobs_org_created", "org_id", "created_at", "id"),
        UniqueConstraint("org_id", "idempotency_key", name="uq_screening_jobs_org_key"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # single | batch
    status: Mapped[str] = mapped_column(String(16))  # queued | running | scored | failed
    total: Mapped[int] = mapped_column(Integer)
    scored: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    rejected_lines: Mapped[int] = mapped_column(Integer, default=0)  # invalid lines left out (partial=allow)
    problem: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # problem details JSON
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(32))
    created_by_role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ScreeningJobItem(Base):
    """One screening of a job, queued in the database (claimed, leased and retried like a calibration).

    ``body`` is the request line as validated when the job was accepted; ``idempotency_key`` is the key
    the screening is stored under, so an item run twice (its worker was killed after storing) replays
    the stored record instead of making a second one.
    """

    __tablename__ = "screening_job_items"
    __table_args__ = (
        UniqueConstraint("job_id", "line", name="uq_screening_job_items_job_line"),
        Index("ix_screening_job_items_status", "status", "lease_until"),
        Index("ix_screening_job_items_org_candidate", "org_id", "candidate_id"),
    )

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("screening_jobs.id", ondelete="CASCADE"))
    org_id: Mapped[str] = mapped_column(String(64))
    line: Mapped[int] = mapped_column(Integer)
    candidate_id: Mapped[str] = mapped_column(String(200))  # erasure finds a candidate's queued answers
    body: Mapped[bytes] = mapped_column(LargeBinary)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # queued | running | scored | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    screening_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    problem: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # problem details JSON
    dead_letter: Mapped[bool] = mapped_column(default=False)  # failed because every attempt failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
