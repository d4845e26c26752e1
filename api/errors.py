"""Every error as RFC 9457 problem details; engine exceptions are mapped to HTTP here and only here."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from api.domain import DomainError
from screening.calibration.errors import CalibrationError, InvalidGold
from screening.errors import InvalidInput, InvalidRubric, ModelError, Problem, RubricNotFound, ScreeningError

__all__ = [
    "PROBLEM_JSON",
    "ApiError",
    "FieldError",
    "ProblemDetails",
    "exception_handlers",
    "from_screening_error",
    "problem_response",
    "problem_type",
    "status_of",
    "to_api_error",
]

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://attitude-screening.dev/problems/"
log = logging.getLogger("api")


def problem_type(slug: str) -> str:
    """Return the stable ``type`` URI of a problem."""
    return TYPE_BASE + slug


class FieldError(msgspec.Struct, frozen=True):
    """One bad field: where it is (JSON path or rubric location) and what is wrong."""

    path: str
    message: str


class ProblemDetails(msgspec.Struct, frozen=True, omit_defaults=True):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: tuple[FieldError, ...] = ()


class ApiError(Exception):
    """An error with everything needed to render it as problem details."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = dict(headers or {})

    @classmethod
    def not_found(cls, what: str, ident: str) -> ApiError:
        """404 for a record this key cannot see (missing, or another organisation's)."""
        return cls(404, "not-found", "Not found", f"No {what} {ident!r}.")

    @classmethod
    def invalid(cls, detail: str, errors: Sequence[FieldError]) -> ApiError:
        """422 naming each bad field."""
        return cls(422, "validation-error", "Invalid request", detail, errors=errors)


def _fields(problems: Sequence[Problem], prefix: str = "") -> tuple[FieldError, ...]:
    return tuple(FieldError(path=f"{prefix}{p.location}", message=p.message) for p in problems)


def _calibration_error(exc: InvalidGold | CalibrationError) -> ApiError:
    """422 for gold with problems (each line and field) or a calibration that cannot be made."""
    if isinstance(exc, InvalidGold):
        problems = [p.as_problem() for p in exc.problems]
        return ApiError(
            422,
            "invalid-gold",
            "Invalid gold",
            f"The rated answers have {len(problems)} problem(s).",
            errors=_fields(problems, "gold: "),
        )
    return ApiError(422, "invalid-calibration", "Calibration not possible", str(exc))


def from_screening_error(exc: ScreeningError) -> ApiError:
    """Map an engine error to HTTP (the one place where this happens)."""
    if isinstance(exc, RubricNotFound):
        wanted = f"{exc.rubric_id!r} version {exc.version!r}" if exc.version else repr(exc.rubric_id)
        return ApiError(
            422,
            "unknown-rubric",
            "Unknown rubric",
            f"No rubric {wanted} is available to this organisation. Available: {', '.join(exc.available) or 'none'}.",
            errors=[
                FieldError(path="rubric.version" if exc.version else "rubric.id", message=f"unknown rubric {wanted}")
            ],
        )
    if isinstance(exc, InvalidRubric):
        return ApiError(
            422,
            "invalid-rubric",
            "Invalid rubric",
            f"The rubric has {len(exc.problems)} problem(s).",
            errors=_fields(exc.problems),
        )
    if isinstance(exc, InvalidGold | CalibrationError):
        return _calibration_error(exc)
    if isinstance(exc, InvalidInput):
        return ApiError(422, "invalid-answers", "Answers do not fit the rubric", str(exc), errors=_fields(exc.problems))
    if isinstance(exc, ModelError):
        return ApiError(503, "model-unavailable", "Scoring model unavailable", str(exc), headers={"Retry-After": "30"})
    return ApiError(500, exc.code, "Scoring failed", str(exc))


def _field_path(error: dict[str, Any]) -> str:
    """Return the JSON path of a bad field; for an unknown or missing field, that field's own path."""
    from screening.wire_errors import msgspec_error_location

    key = str(error.get("key") or "")
    path, _ = msgspec_error_location(str(error.get("message", "")), within="" if key == "data" else key)
    return path or str(error.get("source") or "body")


def _validation(exc: ValidationException) -> ApiError:
    extra = exc.extra if isinstance(exc.extra, list) else []
    messages = [e for e in extra if isinstance(e, dict)]
    if any("malformed" in str(e.get("message", "")).lower() for e in messages) or not messages:
        text = "; ".join(str(e.get("message")) for e in messages) or str(exc.detail)
        return ApiError(400, "malformed-request", "Malformed request", f"The request could not be decoded: {text}")
    errors = [FieldError(path=_field_path(e), message=str(e["message"])) for e in messages]
    return ApiError.invalid("; ".join(f"{e.path}: {e.message}" for e in errors), errors)


_HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Request body too large"),
    429: ("rate-limited", "Too many requests"),
    503: ("not-ready", "Service not ready"),
}


DATABASE_RETRY_SECONDS = 5
LOG_EVERY_SECONDS = 30.0
_last_logged: dict[str, tuple[float, int]] = {}


def log_throttled(kind: str, message: str, exc: BaseException | None = None) -> None:
    """Log one line per ``kind`` per interval (with how many were suppressed), never a traceback each."""
    now = time.monotonic()
    last, suppressed = _last_logged.get(kind, (0.0, 0))
    if now - last < LOG_EVERY_SECONDS:
        _last_logged[kind] = (last, suppressed + 1)
        return
    _last_logged[kind] = (now, 0)
    log.error("%s%s", message, f" ({suppressed} more like it not logged)" if suppressed else "", exc_info=exc)


def _database_down(exc: Exception) -> bool:
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OSError) or (
        type(exc).__module__.startswith("asyncpg") and "Connection" in type(exc).__name__
    )


def _database_unavailable() -> ApiError:
    return ApiError(
        503,
        "database-unavailable",
        "Database unavailable",
        "The database cannot be reached just now; nothing was stored. Retry shortly.",
        headers={"Retry-After": str(DATABASE_RETRY_SECONDS)},
    )


def _log_database_down(exc: Exception) -> None:
    kind = type(getattr(exc, "orig", None) or exc).__name__
    log_throttled(f"database:{kind}", f"database unavailable: {kind}: {str(exc).splitlines()[0][:200]}")


def _from_http(exc: HTTPException) -> ApiError:
    slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail
    if exc.status_code == 400 and "malformed" in detail.lower():
        slug, title = "malformed-request", "Malformed request"
    if exc.status_code == 413:
        detail = "The request body is larger than this service accepts (SCREENING_MAX_BODY_BYTES)."
    return ApiError(exc.status_code, slug, title, detail, headers=exc.headers or {})


def _from_domain(exc: DomainError) -> ApiError:
    return ApiError(exc.status, exc.slug, exc.title, exc.detail, errors=_field_errors(exc), headers=exc.headers)


def _unhandled(exc: Exception) -> ApiError:
    log_throttled(f"unhandled:{type(exc).__name__}", "unhandled error", exc)
    return ApiError(
        500, "internal-error", "Internal server error", "Something went wrong; the request was not applied."
    )


_CONVERTERS = (
    (DomainError, _from_domain),
    (ScreeningError, from_screening_error),
    (ValidationException, _validation),
    (HTTPException, _from_http),
)


def _expected(exc: Exception) -> ApiError | None:
    """The answer to an exception the service expects (nothing is logged); ``None`` for a bug."""
    if isinstance(exc, ApiError):
        return exc
    if _database_down(exc):
        return _database_unavailable()
    for kind, convert in _CONVERTERS:
        if isinstance(exc, kind):
            return convert(exc)  # type: ignore[arg-type]
    return None


def status_of(exc: BaseException) -> int:
    """The status ``exc`` will be answered with (for metrics and the access log; nothing is logged)."""
    error = _expected(exc) if isinstance(exc, Exception) else None
    return error.status if error is not None else 500


def to_api_error(exc: Exception) -> ApiError:
    """Convert any exception to an :class:`ApiError` (the one exception map of the service)."""
    error = _expected(exc)
    if error is None:
        return _unhandled(exc)
    if error is not exc and error.slug == "database-unavailable":
        _log_database_down(exc)
    return error


def _field_errors(exc: DomainError) -> tuple[FieldError, ...]:
    return tuple(FieldError(path=path, message=message) for path, message in exc.fields)


def problem_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Render ``exc`` as ``application/problem+json``."""
    error = to_api_error(exc)
    body = ProblemDetails(
        type=problem_type(error.slug),
        title=error.title,
        status=error.status,
        detail=error.detail,
        instance=request.scope["path"],
        errors=error.errors,
    )
    return Response(
        content=msgspec.json.encode(body), status_code=error.status, media_type=PROBLEM_JSON, headers=error.headers
    )


exception_handlers: ExceptionHandlersMap = {Exception: problem_response}
