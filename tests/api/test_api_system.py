"""Metrics, the OpenAPI document, and settings from the environment."""

from __future__ import annotations

import pytest
from api_support import screening_body

from api.settings import Settings, SettingsError


@pytest.mark.asyncio
async def test_metrics(client, key) -> None:
    ats = await key("integration")
    assert (await client.post("/v1/screenings", json=screening_body(), headers=ats)).status_code == 201
    await client.post("/v1/screenings", json=screening_body(), headers={**ats, "Idempotency-Key": "m"})
    await client.post("/v1/screenings", json=screening_body(), headers={**ats, "Idempotency-Key": "m"})
    response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'screening_http_requests_total{method="POST",route="/v1/screenings",status="201"} 3.0' in text
    assert "screening_http_request_duration_seconds_bucket" in text
    assert "screening_scoring_duration_seconds_count 2.0" in text
    assert "screening_encoder_batch_size_count" in text
    assert 'screening_cache_requests_total{cache="idempotency",result="hit"} 1.0' in text
    assert 'screening_cache_hit_ratio{cache="embeddings"}' in text


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_openapi_document(client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len(operations) >= 14
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    for op in operations:
        assert op.get("description"), op["operationId"]
        for parameter in op.get("parameters", []):
            assert parameter.get("description"), (op["operationId"], parameter["name"])
    assert "ScreeningIn" in document["components"]["schemas"]
    assert document["paths"]["/v1/screenings"]["post"]["security"] == [{"apiKey": []}]


def test_settings_from_environment() -> None:
    settings = Settings.from_env({"SCREENING_PORT": "9000", "SCREENING_REDIS_URL": "redis://x:1/0", "HOME": "/"})
    assert settings.port == 9000 and not settings.embedded
    assert Settings.from_env({}).embedded
    with pytest.raises(SettingsError, match=r"SCREENING_PORT.*'eighty'"):
        Settings.from_env({"SCREENING_PORT": "eighty"})
    with pytest.raises(SettingsError, match="SCREENING_WORKERS"):
        Settings.from_env({"SCREENING_WORKERS": "0"})
    with pytest.raises(SettingsError, match="SCREENING_LOG_LEVEL"):
        Settings.from_env({"SCREENING_LOG_LEVEL": "loud"})
