"""The OpenAPI document tells the truth: schemathesis drives the app (real scorer) with a real key of each role.

Every operation is called with data generated from the document (valid and invalid), and each response must
be documented: its status, its content type, its body's schema and its headers. Valid data must be accepted
(or refused only by a rule the document states) and invalid data refused; nothing may answer 5xx.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import schemathesis
from api_support import add_key
from cryptography.fernet import Fernet
from litestar import Litestar
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.schemas import BaseSchema

from api.app import create_app
from api.errors import PROBLEM_JSON
from api.openapi import REQUEST_EXAMPLES
from api.settings import Settings

ROLES = ("integration", "recruiter", "hr_admin")
PUBLIC = {"/healthz", "/readyz", "/metrics"}
SCHEMA_PATH = "/schema/openapi.json"

# Schema-valid requests these operations refuse by a rule the document states but cannot encode: 422 for a
# rubric or question id that does not exist, an unknown review target or a level off the rubric's scale, TOML
# that is not a valid rubric, a date before 1970, a webhook URL to a private address; 400 for a cursor this API did not make.
REFUSED_BY_STATED_RULES = {
    "createScreening": ["422"],
    "createScreeningBatch": ["422"],  # NDJSON whose lines are not screening requests of a known rubric
    "reviewScreening": ["422"],
    "validateRubric": ["422"],
    "uploadRubric": ["422"],
    "listScreenings": ["400", "422"],
    "adverseImpactReport": ["422"],  # a rubric id the organisation does not have, a cut off the scale
    "adverseImpactReportCsv": ["422"],
    "createWebhook": ["422"],  # a URL that is not https or names a private address (SCREENING_WEBHOOK_ALLOW_*)
    "listWebhookDeliveries": ["422"],  # `before` that is not an ISO 8601 time
    # Greenhouse: a test id that is no rubric, a callback that is not https, no application id anywhere
    "greenhouseSendTest": ["422"],
}
# An NDJSON batch is text on the wire (one JSON object per line)
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
ACCEPTED = ["2xx", "401", "403", "404", "409", "410", "429"]


def _config(token: str, *, mode: str = "all", parameters: dict[str, str] | None = None) -> SchemathesisConfig:
    """Bounded and deterministic: a fixed seed, no shrinking, a few examples per operation and phase."""
    return SchemathesisConfig.from_dict(
        {
            "seed": 20251130,
            "suppress-health-check": ["all"],
            "auth": {
                "openapi": {
                    "apiKey": {"bearer": token},
                    "greenhouseBasic": {"username": token, "password": ""},  # Greenhouse's partner routes
                }
            },
            "parameters": parameters or {},
            "generation": {"mode": mode, "max-examples": 20, "no-shrink": True, "deterministic": True},
            "phases": {"stateful": {"enabled": False}},
            "checks": {
                "not_a_server_error": {"enabled": True},
                "status_code_conformance": {"enabled": True},
                "content_type_conformance": {"enabled": True},
                "response_schema_conformance": {"enabled": True},
                "response_headers_conformance": {"enabled": True},
                "negative_data_rejection": {"enabled": True},
                "positive_data_acceptance": {"enabled": True},
                "ignored_auth": {"enabled": True},
                # Litestar 2's automatic OPTIONS lists one handler's method where a path has several (its bug
                # litestar-org/litestar#4169, fixed in Litestar 3): OPTIONS is not part of this API.
                "allow_header_conformance": {"enabled": False},
            },
            "operations": [
                {
                    "include-operation-id": operation_id,
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, *refusals]}},
                }
                for operation_id, refusals in REFUSED_BY_STATED_RULES.items()
            ],
        }
    )


def _token(settings: Settings, role: str) -> str:
    headers = asyncio.run(add_key(settings, "acme", role))[1]
    return headers["Authorization"].removeprefix("Bearer ")


def _app(request: pytest.FixtureRequest, settings: Settings, scorer: Any) -> tuple[Litestar, Settings]:
    # schemathesis 4.32's `from_fixture` reads `node._nodeid`, which pytest 9.2 no longer has (it names subtests)
    request.node._nodeid = request.node.nodeid
    # No rate limits here: thousands of requests a minute from one key and one address are the point
    unlimited = msgspec.structs.replace(
        settings,
        rate_limit_per_minute=0,
        auth_failures_per_minute=0,
        public_url="https://screening.example",  # the Greenhouse routes are configured
        greenhouse_secret=Fernet.generate_key().decode(),
    )
    return create_app(unlimited, scorer=scorer), unlimited


@pytest.fixture(params=ROLES)
def api_schema(request: pytest.FixtureRequest, settings: Settings, scorer: Any) -> Iterator[BaseSchema]:
    """The app's own document, loaded from the app, calling it in-process with a key of one role."""
    app, unlimited = _app(request, settings, scorer)
    yield schemathesis.openapi.from_asgi(SCHEMA_PATH, app, config=_config(_token(unlimited, request.param)))
    shutdown_lifespans()


@pytest.fixture(params=("recruiter", "hr_admin"))
def record_schema(request: pytest.FixtureRequest, settings: Settings, scorer: Any) -> Iterator[BaseSchema]:
    """The operations on one screening record, with the id of a real one (scored from the document's example)."""
    app, unlimited = _app(request, settings, scorer)
    loaded = schemathesis.openapi.from_asgi(SCHEMA_PATH, app)
    create = loaded["/v1/screenings"]["POST"].Case(
        body=REQUEST_EXAMPLES["ScreeningIn"], headers={"Authorization": f"Bearer {_token(unlimited, 'integration')}"}
    )
    created = create.call()
    assert created.status_code == 201, created.text
    config = _config(
        _token(unlimited, request.param), mode="positive", parameters={"path.screening_id": created.json()["id"]}
    )
    yield schemathesis.openapi.from_asgi(SCHEMA_PATH, app, config=config)
    shutdown_lifespans()


api = schemathesis.pytest.from_fixture("api_schema")
record = schemathesis.pytest.from_fixture("record_schema").include(path_regex="/{screening_id}")


@api.parametrize()
def test_api_conforms_to_its_document(case: Case) -> None:
    case.call_and_validate()


@record.parametrize()
def test_record_operations_conform_to_the_document(case: Case) -> None:
    case.call_and_validate()


@pytest.fixture
def document(settings: Settings, scorer: Any) -> Iterator[dict[str, Any]]:
    """The rendered OpenAPI document."""
    schema = schemathesis.openapi.from_asgi(SCHEMA_PATH, create_app(settings, scorer=scorer))
    yield schema.raw_schema
    shutdown_lifespans()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method.upper(), operation


def test_every_keyed_operation_documents_401_and_problem_details(document: dict[str, Any]) -> None:
    problem_ref = "#/components/schemas/ProblemDetails"
    operations = list(_operations(document))
    assert len(operations) >= 18
    for path, method, operation in operations:
        responses = operation["responses"]
        if path in PUBLIC:
            assert "401" not in responses and "security" not in operation, (method, path)
        else:
            scheme = "greenhouseBasic" if path.startswith("/partners/greenhouse/") else "apiKey"
            assert operation["security"] == [{scheme: []}], (method, path)
            assert {"401", "429", "503"} <= responses.keys(), (method, path, sorted(responses))
        for status, response in responses.items():
            if int(status) >= 400:
                assert list(response["content"]) == [PROBLEM_JSON], (method, path, status)
                assert response["content"][PROBLEM_JSON]["schema"] == {"$ref": problem_ref}, (method, path, status)
                assert response["description"], (method, path, status)
        if "requestBody" in operation:
            assert {"400", "413", "415", "422"} <= responses.keys(), (method, path, sorted(responses))
        if "{" in path:
            assert {"400", "404", "422"} <= responses.keys(), (method, path, sorted(responses))
    for status, header in (("401", "WWW-Authenticate"), ("429", "Retry-After"), ("503", "Retry-After")):
        for path, method, operation in operations:
            if status in operation["responses"]:
                assert operation["responses"][status]["headers"][header]["required"], (method, path, status)


def test_request_bodies_are_closed_and_strict(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("ScreeningIn", "AnswerIn", "RubricRef", "ConfirmIn", "OverrideIn", "KeyIn", "RubricUpload"):
        assert schemas[name]["additionalProperties"] is False, name
    assert schemas["ScreeningIn"]["properties"]["answers"]["minItems"] == 1
    assert schemas["ScreeningIn"]["properties"]["answers"]["maxItems"] == Settings().max_answers
    assert schemas["AnswerIn"]["properties"]["text"]["maxLength"] == Settings().max_answer_chars
    assert schemas["OverrideIn"]["properties"]["level"]["type"] == "number"
    assert "level" in schemas["OverrideIn"]["required"] and "level" not in schemas["ConfirmIn"]["required"]
    assert schemas["KeyIn"]["properties"]["role"]["enum"] == list(ROLES)


@pytest.mark.asyncio
async def test_json_bodies_are_decoded_strictly(client, key) -> None:
    recruiter = await key("recruiter")
    url = "/v1/screenings/no-such-screening/reviews"
    body = {"target": "overall", "action": "override", "reason": "Clearly stronger"}
    problem = (await client.post(url, json={**body, "level": "4"}, headers=recruiter)).json()
    assert problem["status"] == 422 and problem["type"].endswith("/validation-error"), problem
    assert [e["path"] for e in problem["errors"]] == ["level"], problem
    assert (await client.post(url, json={**body, "level": 4}, headers=recruiter)).status_code == 404
