"""The OpenAPI document: its configuration, the problem responses each operation declares, and what Litestar
cannot say by itself.

Every error is RFC 9457 problem details (:class:`~api.errors.ProblemDetails`, ``application/problem+json``);
route decorators list the statuses they can return with :func:`problem_responses`. When the document is
rendered, :func:`finish_document` adds what the decorators cannot express: the headers sent with 401, 429 and
503; ``additionalProperties: false`` on request bodies (their Structs forbid unknown fields); the configured
limits on answers; an example of each request body; and it drops the generic 400 Litestar adds on its own
(that body is never sent).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any

import msgspec
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, OpenAPI, SecurityScheme

from api import schemas
from api.errors import PROBLEM_JSON, ProblemDetails
from api.reference import ReferencePage, reference_router
from api.settings import Settings

__all__ = [
    "BAD_LIST_QUERY",
    "CALIBRATED_BEFORE",
    "CREATE_CONFLICT",
    "CREATE_INVALID",
    "JSON_BODY",
    "KEYED",
    "NOT_READY",
    "NO_CANDIDATE",
    "NO_DEMOGRAPHICS",
    "NO_KEY",
    "NO_RUBRIC",
    "NO_SCREENING",
    "PATH_ID",
    "REQUEST_EXAMPLES",
    "RESCORE_INVALID",
    "REVIEW_INVALID",
    "RUBRIC_CHANGED",
    "RUBRIC_INVALID",
    "RUBRIC_TOO_LARGE",
    "STATUS_DESCRIPTIONS",
    "STORED_BEFORE",
    "UPLOAD_CONFLICT",
    "finish_document",
    "openapi_config",
    "problem_responses",
]

STATUS_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request: the body is not JSON or UTF-8 or is nested too deeply, or the path or a header has a NUL.",
    401: "No API key, or an unknown or revoked one (see `WWW-Authenticate`).",
    403: "This key's role may not call this operation.",
    404: "No such record in this key's organisation.",
    409: "Conflicts with the stored state.",
    410: "The screening was erased on a data-protection request; only its audit log remains.",
    413: "The request body is larger than this service accepts (`SCREENING_MAX_BODY_BYTES`).",
    415: "The body is not sent as `Content-Type: application/json`.",
    422: "Well-formed but invalid: `errors` names each bad field (body, path, query or header).",
    429: "Too many requests for this key, or failed authentications from this address; see `Retry-After`.",
    503: "The database or the scoring model is unavailable just now; retry after `Retry-After` seconds.",
}
"""The one-line description of each error status, unless an operation gives its own."""

NO_SCREENING = "No screening with this id in this organisation."
NO_KEY = "No API key with this id in this organisation."
NO_RUBRIC = "No rubric with this id for this organisation."
NO_CANDIDATE = "Nothing of this candidate (screenings or self-identification) is left to erase."
NO_DEMOGRAPHICS = "No self-identification is recorded for this candidate."
CREATE_CONFLICT = "The `Idempotency-Key` was used with another body, or the rubric version changed while scoring."
CREATE_INVALID = (
    "Invalid body, an unknown rubric (`unknown-rubric`), or answers that do not fit it (`invalid-answers`)."
)
REVIEW_INVALID = "Invalid body, an unknown target, a level off the scale, or a confirmation with another level."
RUBRIC_CHANGED = "The uploaded rubric version was changed while scoring; retry."
RESCORE_INVALID = "The id is too long, or the screening's rubric version is no longer available."
RUBRIC_TOO_LARGE = "The body, or the rubric in it, is larger than this service accepts."
RUBRIC_INVALID = "Invalid body, or the rubric has problems (`invalid-rubric`, each located in `errors`)."
UPLOAD_CONFLICT = "The version has scored candidates, the id is a built-in rubric's, or a concurrent upload won."
BAD_LIST_QUERY = {400: "A `cursor` this API did not make.", 422: "A bad filter (dates from 1970 to 9000) or page size."}
NOT_READY = "Not ready: the model is loading or failed, or the database or a store does not answer."
STORED_BEFORE = ResponseSpec(
    data_container=schemas.RubricValidation,
    description="This version was stored before: unchanged, or corrected before it scored anyone.",
    generate_examples=False,
)
"""``uploadRubric``'s other success (``201`` is a new version)."""
CALIBRATED_BEFORE = ResponseSpec(
    data_container=schemas.CalibrationOut,
    description="The same gold, rubric content and settings were calibrated before: that calibration.",
    generate_examples=False,
)
"""``createCalibration``'s other success (``202`` is a new calibration, queued)."""

KEYED: tuple[int, ...] = (401, 429, 503)
"""What every route behind an API key can answer: no valid key, rate-limited, database (which holds keys) down."""

JSON_BODY: tuple[int, ...] = (400, 413, 415, 422)
"""What every route taking a JSON body can answer: malformed, too large, not JSON, invalid."""

PATH_ID: tuple[int, ...] = (400, 404, 422)
"""What every route with an id in its path can answer: a NUL in it, no such record, an id too long."""

_SECONDS = {"type": "integer", "minimum": 0}
_RESPONSE_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": "How to authenticate: `Bearer` (`Basic` on Greenhouse's partner routes).",
            "required": True,
            "schema": {"type": "string", "pattern": "^(Bearer|Basic)"},
        },
    },
    415: {"Accept": {"description": "The accepted media type.", "schema": {"type": "string"}}},
    429: {
        "Retry-After": {"description": "Seconds until a request may succeed.", "required": True, "schema": _SECONDS},
        "RateLimit-Limit": {"description": "Requests allowed a minute.", "schema": _SECONDS},
        "RateLimit-Remaining": {"description": "Requests left this minute.", "schema": _SECONDS},
    },
    503: {
        "Retry-After": {"description": "Seconds after which to retry.", "required": True, "schema": _SECONDS},
    },
}


REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "ScreeningIn": {
        "candidate_id": "cand-001",
        "application_id": "app-2024-0042",
        "rubric": {"id": "customer-service-attitude"},
        "answers": [
            {
                "question_id": "broken-gift",
                "text": "I'd say sorry straight away and ask when the party starts, then find a replacement "
                "we can courier to them this afternoon, and call them back myself once it's booked.",
            }
        ],
    },
    "ConfirmIn": {"action": "confirm", "target": "overall", "reason": "Matches what we saw at interview."},
    "OverrideIn": {"action": "override", "target": "overall", "level": 4, "reason": "Strong at interview."},
    "KeyIn": {"role": "recruiter", "name": "Recruiting team"},
    "DemographicsIn": {"sex": "female", "race_ethnicity": "declined"},
    "WebhookIn": {
        "url": "https://ats.example.com/hooks/screening",
        "events": ["screening.scored", "screening.needs_review"],
        "description": "ATS",
    },
}
"""An example of each request body (by component name), shown with the operations that take it."""


def problem_responses(*statuses: int, notes: Mapping[int, str] | None = None) -> dict[int, ResponseSpec]:
    """Litestar ``responses=`` for error statuses: problem details, each with its one-line description.

    ``notes`` gives operation-specific descriptions (its statuses are included too).
    """
    notes = notes or {}
    return {
        status: ResponseSpec(
            data_container=ProblemDetails,
            description=notes.get(status) or STATUS_DESCRIPTIONS[status],
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in sorted({*statuses, *notes})
    }


def _closed_structs() -> Iterator[str]:
    """Names of the request-body Structs, which reject unknown fields (their component schema names)."""
    for name, value in inspect.getmembers(schemas, inspect.isclass):
        if issubclass(value, msgspec.Struct) and value.__struct_config__.forbid_unknown_fields:
            yield name


def _operations(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                yield operation


def _set(schemas_: dict[str, Any], component: str, prop: str, **values: Any) -> None:
    target = schemas_.get(component, {}).get("properties", {}).get(prop)
    if target is not None:
        target.update(values)


def _add_examples(operation: dict[str, Any]) -> None:
    for media in operation.get("requestBody", {}).get("content", {}).values():
        schema = media.get("schema", {})
        refs = [one.get("$ref", "") for one in schema.get("oneOf", [schema])]
        names = [ref.rsplit("/", 1)[-1] for ref in refs if ref.rsplit("/", 1)[-1] in REQUEST_EXAMPLES]
        if names:
            media["examples"] = {name: {"value": REQUEST_EXAMPLES[name]} for name in names}


RAW_BODIES: dict[str, dict[str, Any]] = {
    "createScreeningBatch": {
        "required": True,
        "description": "One `createScreening` body (JSON) per line; blank lines are skipped, lines keep their numbers.",
        "content": {
            "application/x-ndjson": {
                "schema": {"type": "string"},
                "example": msgspec.json.encode(REQUEST_EXAMPLES["ScreeningIn"]).decode() + "\n",
            }
        },
    }
}
"""Bodies read by the handler itself (not decoded by Litestar), by operation id."""


def finish_document(document: dict[str, Any], *, settings: Settings | None = None) -> dict[str, Any]:
    """Add to the rendered document what route decorators and Structs cannot express (see the module docstring)."""
    components = document.get("components", {}).get("schemas", {})
    for name in _closed_structs():
        if name in components:
            components[name]["additionalProperties"] = False
    if settings is not None:
        _set(components, "ScreeningIn", "answers", maxItems=settings.max_answers)
        _set(components, "AnswerIn", "text", maxLength=settings.max_answer_chars)
    for operation in _operations(document):
        _add_examples(operation)
        if operation.get("operationId") in RAW_BODIES:
            operation["requestBody"] = RAW_BODIES[operation["operationId"]]
        responses: dict[str, Any] = operation["responses"]
        for status, response in list(responses.items()):
            code = int(status)
            if code >= 400 and PROBLEM_JSON not in (response.get("content") or {}):
                del responses[status]  # Litestar's generic 400: this service never sends it
            elif code in _RESPONSE_HEADERS:
                response["headers"] = {**response.get("headers", {}), **_RESPONSE_HEADERS[code]}
    return document


@dataclass
class _Document(OpenAPI):
    """The generated document, finished when it is rendered."""

    finish: Callable[[dict[str, Any]], dict[str, Any]] | None = field(default=None)

    @property
    def _exclude_fields(self) -> set[str]:
        return {"finish"}

    def to_schema(self) -> dict[str, Any]:
        """Render the document, then finish it."""
        document = super().to_schema()
        return self.finish(document) if self.finish else document


@dataclass
class _Config(OpenAPIConfig):
    """Litestar's OpenAPI configuration, whose document is finished by :func:`finish_document`."""

    settings: Settings | None = None

    def to_openapi_schema(self) -> OpenAPI:
        """The document Litestar fills in with paths and schemas, finished with this service's settings."""
        base = super().to_openapi_schema()
        values = {f.name: getattr(base, f.name) for f in fields(base)}
        return _Document(**values, finish=partial(finish_document, settings=self.settings))


def openapi_config(settings: Settings | None = None) -> OpenAPIConfig:
    """The service's OpenAPI configuration: the reference page at ``/schema`` (:mod:`api.reference`, the only
    viewer), the document at ``/schema/openapi.json``.
    """
    return _Config(
        title="Attitude screening API",
        version="1.0.0",
        use_handler_docstrings=True,
        description=(
            "Scores candidates' situational-judgement answers against HR-owned rubrics, explainably. "
            "Every error is RFC 9457 problem details (`application/problem+json`)."
        ),
        components=Components(
            security_schemes={
                "apiKey": SecurityScheme(
                    type="http", scheme="bearer", description="An API key from `screening keys create`."
                ),
                "greenhouseBasic": SecurityScheme(
                    type="http",
                    scheme="basic",
                    description="Greenhouse's partner routes: an integration key as user name, empty password.",
                ),
            }
        ),
        settings=settings,
        render_plugins=[ReferencePage()],
        openapi_router=reference_router(),
    )
