"""Service settings: ``SCREENING_*`` environment variables decoded into one typed Struct."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from screening.wire_errors import msgspec_error_location

__all__ = ["ENV_PREFIX", "Settings", "SettingsError"]

ENV_PREFIX = "SCREENING_"

Port = Annotated[int, Meta(ge=1, le=65535)]
Positive = Annotated[int, Meta(ge=1)]


class SettingsError(ValueError):
    """A setting is missing a valid value; the message names the environment variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the service can be configured with; each field is ``SCREENING_<FIELD>``."""

    host: str = "127.0.0.1"
    port: Port = 8000
    workers: Annotated[int, Meta(ge=1, le=64)] = 1
    database_url: str = "sqlite+aiosqlite:///./screening.sqlite3"
    redis_url: str | None = None
    redis_prefix: Annotated[str, Meta(min_length=1, max_length=64)] = "screening"
    model: str | None = None
    method: str | None = None
    cache_dir: str | None = None
    encoder_backend: Literal["torch", "onnx", "onnx-int8"] | None = None
    encoder_batching: bool | None = None  # None: on a GPU only
    scoring_concurrency: Annotated[int, Meta(ge=1, le=64)] = 2
    max_body_bytes: Annotated[int, Meta(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    max_answers: Annotated[int, Meta(ge=1, le=1000)] = 50
    max_answer_chars: Annotated[int, Meta(ge=1, le=20_000)] = 10_000
    max_rubric_bytes: Annotated[int, Meta(ge=1024, le=16 * 1024 * 1024)] = 512 * 1024
    rate_limit_per_minute: Annotated[int, Meta(ge=0)] = 600
    auth_failures_per_minute: Annotated[int, Meta(ge=0)] = 30
    rubric_parse_seconds: Annotated[float, Meta(gt=0, le=120)] = 10.0
    idempotency_ttl_seconds: Positive = 24 * 3600
    calibration_poll_seconds: Annotated[float, Meta(gt=0, le=3600)] = 10.0
    calibration_lease_seconds: Annotated[float, Meta(ge=10, le=24 * 3600)] = 120.0
    calibration_resamples: Annotated[int, Meta(ge=0, le=10_000)] = 1000
    calibration_max_answers: Annotated[int, Meta(ge=2, le=100_000)] = 2000
    job_batch_size: Annotated[int, Meta(ge=1, le=512)] = 32  # job items a worker claims and scores together
    job_lease_seconds: Annotated[float, Meta(ge=1, le=24 * 3600)] = 60.0
    job_max_attempts: Annotated[int, Meta(ge=1, le=100)] = 3  # then the item is dead-lettered (failed)
    job_retry_seconds: Annotated[float, Meta(ge=0, le=24 * 3600)] = 5.0
    job_poll_seconds: Annotated[float, Meta(gt=0, le=3600)] = 2.0  # in-process runner and the reconciler
    in_process_jobs: bool | None = None  # None: in process without Redis, by `screening worker` with it
    worker_concurrency: Annotated[int, Meta(ge=1, le=64)] = 2
    max_batch_lines: Annotated[int, Meta(ge=1, le=100_000)] = 10_000
    max_batch_bytes: Annotated[int, Meta(ge=1024, le=512 * 1024 * 1024)] = 64 * 1024 * 1024
    what_if_limit: Annotated[int, Meta(ge=0, le=100_000)] = 500
    webhook_timeout_seconds: Annotated[float, Meta(gt=0, le=60)] = 10.0
    webhook_poll_seconds: Annotated[float, Meta(gt=0, le=3600)] = 5.0
    webhook_concurrency: Annotated[int, Meta(ge=1, le=64)] = 8  # deliveries one worker sends at once
    webhook_allow_private: bool = False  # send to loopback / private / link-local addresses (tests, closed networks)
    webhook_allow_http: bool = False  # accept http:// endpoint URLs (tests, closed networks)
    webhook_ca_file: Annotated[str, Meta(min_length=1, max_length=1000)] | None = (
        None  # CAs receivers' TLS is checked against
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    session_secret: Annotated[str, Meta(min_length=32, max_length=512)] | None = None  # signs review-page cookies
    session_hours: Annotated[float, Meta(gt=0, le=24)] = 8.0
    cookie_secure: bool | None = None  # None: Secure when the request came over https
    # the reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated addresses or networks);
    # unset: none, so behind a proxy every client would share the proxy's address (and its failed-sign-in limit)
    forwarded_allow_ips: Annotated[str, Meta(pattern=r"^[0-9A-Fa-f.:/, *]+$", max_length=500)] | None = None
    review_link_minutes: Annotated[int, Meta(ge=1, le=24 * 60)] = 15  # one-time sign-in links expire after this
    # the base of the links handed out (behind a proxy); else the request's own scheme and host
    public_url: Annotated[str, Meta(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", max_length=500)] | None = None
    # Greenhouse assessment partner (api/greenhouse_service.py): see README "Greenhouse"
    greenhouse_secret: Annotated[str, Meta(min_length=44, max_length=44)] | None = None  # a Fernet key
    smtp_url: Annotated[str, Meta(pattern=r"^smtps?(\+starttls)?://", max_length=500)] | None = None
    mail_from: Annotated[str, Meta(min_length=3, max_length=254)] = "screening@localhost"
    candidate_link_days: Annotated[float, Meta(gt=0, le=90)] = 14.0
    expose_candidate_links: bool = False  # integration keys may read a candidate's link (when there is no mail)
    allow_private_callbacks: bool = False  # PATCH callbacks to loopback/private addresses (tests, closed networks)
    greenhouse_poll_seconds: Annotated[float, Meta(gt=0, le=3600)] = 30.0
    privacy_contact: Annotated[str, Meta(min_length=3, max_length=254)] | None = None  # shown to candidates
    retention_days: Annotated[int, Meta(ge=1, le=3650)] | None = None  # shown to candidates when set

    @property
    def embedded(self) -> bool:
        """True without Redis: caches, rate limits and idempotency keys live in memory."""
        return self.redis_url is None

    @property
    def runs_jobs_in_process(self) -> bool:
        """Whether the API process itself runs screening jobs (the default without Redis)."""
        return self.embedded if self.in_process_jobs is None else self.in_process_jobs

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Decode ``SCREENING_*`` variables (and ``overrides``); raise :class:`SettingsError` naming a bad one."""
        environ = os.environ if environ is None else environ
        known = set(cls.__struct_fields__)
        raw: dict[str, object] = {}
        for name, value in environ.items():
            field = name.removeprefix(ENV_PREFIX).lower()
            if name.startswith(ENV_PREFIX) and field in known and value != "":
                raw[field] = value
        raw.update(overrides)
        try:
            return msgspec.convert(raw, type=cls, strict=False)
        except msgspec.ValidationError as exc:
            field, message = msgspec_error_location(str(exc))
            variable = f"{ENV_PREFIX}{field.upper()}" if field else "settings"
            given = f" (got {raw[field]!r})" if field in raw else ""
            raise SettingsError(f"invalid setting {variable}: {message}{given}") from exc
