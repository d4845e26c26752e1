"""API keys managed over HTTP by HR admins, within their own organisation only."""

from __future__ import annotations

import pytest
from api_support import assert_problem

pytestmark = pytest.mark.asyncio


async def test_keys_lifecycle_and_isolation(client, key) -> None:
    admin = await key("hr_admin")
    created = await client.post("/v1/keys", json={"role": "integration", "name": "Workday"}, headers=admin)
    assert created.status_code == 201, created.text
    new = created.json()
    assert new["token"].startswith("scr_") and new["role"] == "integration"
    headers = {"Authorization": f"Bearer {new['token']}"}
    assert (await client.get("/v1/screenings", headers=headers)).status_code == 200

    listed = (await client.get("/v1/keys", headers=admin)).json()
    assert new["id"] in [k["id"] for k in listed]
    assert all("token" not in k for k in listed)

    globex = await key("hr_admin", org="globex")
    assert new["id"] not in [k["id"] for k in (await client.get("/v1/keys", headers=globex)).json()]
    assert_problem(await client.delete(f"/v1/keys/{new['id']}", headers=globex), 404, "not-found")
    assert (await client.get("/v1/screenings", headers=headers)).status_code == 200

    assert_problem(await client.get("/v1/keys", headers=await key("recruiter")), 403, "forbidden")
    assert_problem(await client.post("/v1/keys", json={"role": "root"}, headers=admin), 422, "validation-error")

    revoked = await client.delete(f"/v1/keys/{new['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert_problem(await client.get("/v1/screenings", headers=headers), 401, "unauthorized")
