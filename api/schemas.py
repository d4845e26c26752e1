"""Wire types: what the API accepts and returns (msgspec Structs).

Request bodies reject unknown fields. A screening's ``report`` is the engine's
:class:`~screening.report.CandidateReport`, returned as the exact JSON bytes stored at scoring time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from screening.calibration.report import CalibrationReport
from screening.calibration.what_if import WhatIfReport
from screening.demographics import RaceEthnicity, Sex
from screening.report import CandidateReport

__all__ = [
    "AnswerIn",
    "AuditEntry",
    "AuditLog",
    "CalibrationIn",
    "CalibrationOut",
    "CalibrationResult",
    "CalibrationStatus",
    "CalibrationSummary",
    "ConfirmIn",
    "Decision",
    "DemographicsIn",
    "DemographicsOut",
    "DimensionDecision",
    "Erasure",
    "FitIn",
    "FitOut",
    "HistoryEntry",
    "JobFieldError",
    "JobItemOut",
    "JobItemPage",
    "JobKind",
    "JobProblem",
    "JobProgress",
    "JobStatus",
    "KeyIn",
    "KeyOut",
    "ListSort",
    "NewKey",
    "OverrideIn",
    "Page",
    "ReviewIn",
    "ReviewLinkOut",
    "ReviewOut",
    "Role",
    "RubricDetail",
    "RubricSource",
    "RubricSummary",
    "RubricUpload",
    "RubricValidation",
    "RubricVersionInfo",
    "ScreeningIn",
    "ScreeningOut",
    "ScreeningStatus",
    "ScreeningSummary",
    "WebhookAttemptOut",
    "WebhookDeliveryDetail",
    "WebhookDeliveryOut",
    "WebhookEventType",
    "WebhookIn",
    "WebhookNew",
    "WebhookOut",
]

Role = Literal["integration", "recruiter", "hr_admin"]
ScreeningStatus = Literal["scored", "needs_review", "reviewed", "erased"]
ListSort = Literal["newest", "level_desc", "level_asc"]  # list orders: newest first, or by overall level
RubricSource = Literal["builtin", "organisation"]
ExternalId = Annotated[str, Meta(min_length=1, max_length=200, description="An id from the applicant tracking system.")]
RubricId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
RubricVersion = Annotated[str, Meta(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]*$", max_length=32)]


class _In(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Request bodies: unknown fields are rejected by name."""


class _Out(msgspec.Struct, frozen=True, kw_only=True):
    """Response bodies."""


class AnswerIn(_In):
    """A candidate's free-text answer to one question of the rubric."""

    question_id: Annotated[str, Meta(min_length=1, max_length=64)]
    text: Annotated[str, Meta(max_length=20_000)]


class RubricRef(_In):
    """Which rubric to score with: its id and, optionally, a pinned version (default: the newest)."""

    id: RubricId
    version: RubricVersion | None = None


class ScreeningIn(_In):
    """An ATS submits one candidate's answers for one application."""

    candidate_id: ExternalId
    application_id: ExternalId
    rubric: RubricRef
    answers: Annotated[
        list[AnswerIn],
        Meta(min_length=1, description="One answer per question answered (at least one; each question once)."),
    ]


class DimensionDecision(_Out):
    """The model's level and the human one (if any) for one dimension, and which stands."""

    dimension_id: str
    model_level: float | None
    human_level: float | None
    level: float | None
    stands: Literal["model", "human"]
    review_id: str | None = None


class Decision(_Out):
    """What stands: the overall and every dimension, model beside human."""

    overall: DimensionDecision
    dimensions: tuple[DimensionDecision, ...]


class ReviewOut(_Out):
    """A recruiter's confirmation or override."""

    id: str
    target: str
    action: Literal["confirm", "override"]
    model_level: float | None
    level: float | None
    reason: str
    reviewer_key_id: str
    created_at: datetime


class HistoryEntry(_Out):
    """One model result this screening has had (the newest is the current ``report``)."""

    seq: int
    created_at: datetime
    rubric_version: str
    rubric_fingerprint: str
    model_id: str
    status: str
    overall_level: float | None
    overall_score: float | None
    current: bool


class ScreeningOut(_Out):
    """A stored screening: the engine's report plus the record's id, timestamps, reviews and decision."""

    id: str
    candidate_id: str | None
    application_id: str | None
    rubric_id: str
    rubric_version: str
    status: ScreeningStatus
    created_at: datetime
    updated_at: datetime
    report: CandidateReport | None
    decision: Decision | None
    reviews: tuple[ReviewOut, ...]
    history: tuple[HistoryEntry, ...]


class ScreeningSummary(_Out):
    """A screening in a list."""

    id: str
    candidate_id: str | None
    application_id: str | None
    rubric_id: str
    rubric_version: str
    status: ScreeningStatus
    overall_score: float | None
    created_at: datetime
    updated_at: datetime


class Page(_Out):
    """One page of screenings; pass ``next_cursor`` as ``cursor`` for the next page."""

    items: tuple[ScreeningSummary, ...]
    next_cursor: str | None


ReviewTarget = Annotated[str, Meta(min_length=1, max_length=64, description='"overall" or a dimension id')]
ReviewReason = Annotated[str, Meta(min_length=3, max_length=2000, description="Why; kept in the audit log.")]


class ConfirmIn(_In, tag="confirm", tag_field="action"):
    """Confirm the model's level of the overall (``target="overall"``) or of one dimension."""

    target: ReviewTarget
    reason: ReviewReason
    level: Annotated[float | None, Meta(description="Leave out, or give the model's own level.")] = None

    @property
    def action(self) -> Literal["confirm"]:
        """The tag: ``"confirm"``."""
        return "confirm"


class OverrideIn(_In, tag="override", tag_field="action"):
    """Replace the model's level of the overall (``target="overall"``) or of one dimension with a human one."""

    target: ReviewTarget
    reason: ReviewReason
    level: Annotated[float, Meta(description="The human level, on the rubric's scale.")]

    @property
    def action(self) -> Literal["override"]:
        """The tag: ``"override"``."""
        return "override"


ReviewIn = ConfirmIn | OverrideIn
"""A recruiter's review, tagged by ``action``: ``confirm`` or ``override``."""


class AuditEntry(_Out):
    """Something that happened to a record."""

    seq: int
    action: str
    actor_key_id: str
    actor_role: str
    at: datetime
    details: dict[str, object]


class ReviewLinkOut(_Out):
    """A signed one-time sign-in link to one screening's review page (e.g. an ATS's ``partner_profile_url``)."""

    id: str
    screening_id: str
    url: str
    expires_at: datetime


class AuditLog(_Out):
    """Every audit entry for one screening, oldest first."""

    screening_id: str
    entries: tuple[AuditEntry, ...]


class Erasure(_Out):
    """Result of erasing a candidate's data."""

    erased_screenings: int
    audit_seq: int


class RubricVersionInfo(_Out):
    """One version of a rubric."""

    version: str
    fingerprint: str
    title: str
    source: RubricSource
    used: bool
    created_at: datetime | None = None


class RubricSummary(_Out):
    """A rubric and its newest version."""

    id: str
    title: str
    latest_version: str
    versions: tuple[str, ...]
    source: RubricSource


class RubricDetail(_Out):
    """A rubric's newest version in full, and all its versions."""

    id: str
    source: RubricSource
    latest: dict[str, object]
    versions: tuple[RubricVersionInfo, ...]


class RubricUpload(_In):
    """A rubric version as TOML text."""

    toml: Annotated[str, Meta(min_length=1, description="The rubric file's content (TOML).")]


class RubricWarning(_Out):
    """Something a valid rubric would score less well with, and where."""

    location: str
    message: str


class RubricValidation(_Out):
    """A valid rubric's identity, and its warnings (e.g. levels without references)."""

    valid: bool
    id: str
    version: str
    fingerprint: str
    questions: int
    dimensions: int
    references: int
    warnings: tuple[RubricWarning, ...] = ()


class KeyIn(_In):
    """A new API key for the caller's organisation."""

    role: Role
    name: Annotated[str, Meta(max_length=200, description="Who or what uses the key.")] = ""


class KeyOut(_Out):
    """An API key (never its token)."""

    id: str
    role: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class NewKey(_Out):
    """A created key; ``token`` is shown only this once."""

    id: str
    role: str
    name: str
    created_at: datetime
    token: str


WebhookEventType = Literal["screening.scored", "screening.needs_review", "screening.reviewed", "job.completed"]


class WebhookIn(_In):
    """A URL to receive events, and which events."""

    url: Annotated[
        str,
        Meta(
            min_length=8,
            max_length=2048,
            pattern="^https?://",
            description="Absolute https URL (no user info, no fragment); each event is POSTed here.",
        ),
    ]
    events: Annotated[list[WebhookEventType], Meta(min_length=1, max_length=16, description="Event types to send.")]
    description: Annotated[str, Meta(max_length=200, description="What the endpoint is for.")] = ""


class WebhookOut(_Out):
    """A registered endpoint (never its secret)."""

    id: str
    url: str
    events: tuple[str, ...]
    description: str
    status: Literal["enabled", "disabled"]
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookNew(_Out):
    """A registered endpoint with its signing secret, shown only this once."""

    endpoint: WebhookOut
    secret: Annotated[str, Meta(description="Signs every delivery (HMAC-SHA256); store it now, it is not shown again.")]


class WebhookDeliveryOut(_Out):
    """One event sent (or to be sent) to one endpoint."""

    id: str
    event_id: str
    event_type: str
    status: Literal["pending", "sending", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    redelivery_of: str | None
    created_at: datetime
    delivered_at: datetime | None


class WebhookAttemptOut(_Out):
    """One try at sending a delivery."""

    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: float
    created_at: datetime


class WebhookDeliveryDetail(_Out):
    """A delivery and each of its attempts, oldest first."""

    delivery: WebhookDeliveryOut
    attempts: tuple[WebhookAttemptOut, ...]


class DemographicsIn(_In):
    """A candidate's optional self-identification; leave a field out (or null) for unknown."""

    sex: Sex | None = None
    race_ethnicity: RaceEthnicity | None = None


class DemographicsOut(_Out):
    """A candidate's recorded self-identification (only ever shown to hr_admin, never in a report)."""

    candidate_id: str
    sex: Sex | None
    race_ethnicity: RaceEthnicity | None
    updated_at: datetime


CalibrationStatus = Literal["queued", "running", "done", "failed"]


class CalibrationIn(_In):
    """Human-rated answers (gold) to check the model against, for one version of the rubric."""

    gold: Annotated[
        str,
        Meta(
            min_length=1,
            description="The gold file's content: JSONL (one rated answer per line) or CSV (a column per rater "
            "and dimension); see the README's calibration section.",
        ),
    ]
    format: Literal["jsonl", "csv"] = "jsonl"
    rubric_version: RubricVersion | None = None  # the version the gold was rated against; else the newest
    # JSON Schema's integers include 5.0, so whole numbers are declared as numbers that are multiples of 1
    folds: Annotated[
        float, Meta(ge=2, le=10, multiple_of=1, description="Cross-validation folds (grouped by candidate).")
    ] = 5
    seed: Annotated[
        float, Meta(ge=0, le=2**31 - 1, multiple_of=1, description="Seed of the folds and the bootstrap.")
    ] = 0


class CalibrationResult(_Out):
    """What a finished calibration computed: the agreement report and the what-if on stored screenings."""

    report: CalibrationReport
    what_if: WhatIfReport


class CalibrationSummary(_Out):
    """A calibration's identity and job state."""

    id: str
    rubric_id: str
    rubric_version: str
    rubric_fingerprint: str
    gold_digest: str
    answers: int
    candidates: int
    folds: int
    seed: int
    status: CalibrationStatus
    error: str | None
    fitted_version: str | None
    created_at: datetime
    finished_at: datetime | None


class CalibrationOut(CalibrationSummary):
    """A calibration with its result once ``status`` is ``done``."""

    result: CalibrationResult | None = None


class FitIn(_In):
    """Save the calibration as a new version of the rubric (the calibrated one; the old one stays)."""

    version: Annotated[
        str,
        Meta(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]*$", max_length=32, description="The new version's name."),
    ]


class FitOut(_Out):
    """The version a calibration was saved as."""

    calibration_id: str
    rubric: RubricValidation


JobStatus = Literal["queued", "running", "scored", "failed"]
JobKind = Literal["single", "batch"]


class JobProblem(_Out):
    """RFC 9457 problem details: why a job or one of its screenings failed (or which lines were left out)."""

    type: str
    title: str
    status: int
    detail: str
    errors: tuple[JobFieldError, ...] = ()


class JobFieldError(_Out):
    """One bad field (for a batch, ``line N: field``)."""

    path: str
    message: str


class JobProgress(_Out):
    """How far a job has come: screenings to score, scored and failed."""

    total: int
    waiting: int  # not finished yet (queued or running)
    scored: int
    failed: int
    rejected_lines: int


class ScreeningJobOut(_Out):
    """An asynchronous screening job: poll it until ``status`` is ``scored`` or ``failed``."""

    id: str
    kind: JobKind
    status: JobStatus
    progress: JobProgress
    screening_id: str | None  # a single job's record, once scored
    problem: JobProblem | None  # a single job's failure, or a batch's left-out lines (partial=allow)
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class JobItemOut(_Out):
    """One screening of a job: its NDJSON line, state, record (once scored) or problem (once failed)."""

    line: int
    status: JobStatus
    attempts: int
    screening_id: str | None
    problem: JobProblem | None
    dead_letter: bool


class JobItemPage(_Out):
    """A page of a job's screenings in line order; pass ``next_after`` as ``after`` for the next page."""

    items: tuple[JobItemOut, ...]
    next_after: int | None
