"""``/v1/webhooks``: an organisation's HR admins register endpoints, read their delivery log, redeliver."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api import webhook_service
from api.auth import Principal, roles
from api.openapi import JSON_BODY, KEYED, PATH_ID, problem_responses
from api.schemas import WebhookDeliveryDetail, WebhookDeliveryOut, WebhookIn, WebhookNew, WebhookOut
from api.services import Services
from api.timestamps import parse_timestamp

__all__ = ["WebhookController"]

ADMIN = roles("hr_admin")
NO_ENDPOINT = "No webhook endpoint with this id in this organisation."
NO_DELIVERY = "No such endpoint in this organisation, or no such delivery of it."
EndpointId = Annotated[str, Parameter(description="The endpoint's id.", max_length=40)]
DeliveryId = Annotated[str, Parameter(description="The delivery's id.", max_length=40)]


class WebhookController(Controller):
    """Webhook endpoints of the caller's organisation (secrets are shown once, at registration)."""

    path = "/v1/webhooks"
    tags = ["webhooks"]  # noqa: RUF012
    security = [{"apiKey": []}]  # noqa: RUF012

    @post(
        "/",
        operation_id="createWebhook",
        status_code=201,
        opt=ADMIN,
        summary="Register a webhook endpoint",
        responses=problem_responses(
            *KEYED,
            403,
            *JSON_BODY,
            notes={422: "Invalid body: a URL that is not https, has user info, or a private address."},
        ),
    )
    async def create(
        self,
        services: NamedDependency[Services],
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        data: JSONBody[WebhookIn],
    ) -> WebhookNew:
        """Register a URL for the chosen events; the signing secret is in this response only."""
        return await webhook_service.create(db_session, services.settings, principal, data)

    @get(
        "/",
        operation_id="listWebhooks",
        opt=ADMIN,
        summary="List webhook endpoints",
        responses=problem_responses(*KEYED, 403),
    )
    async def list_webhooks(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
    ) -> list[WebhookOut]:
        """List the organisation's endpoints, disabled ones (with the reason) included; never their secrets."""
        return await webhook_service.list_all(db_session, principal)

    @get(
        "/{endpoint_id:str}",
        operation_id="getWebhook",
        opt=ADMIN,
        summary="Read a webhook endpoint",
        responses=problem_responses(*KEYED, 403, *PATH_ID, notes={404: NO_ENDPOINT}),
    )
    async def get_webhook(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal], endpoint_id: EndpointId
    ) -> WebhookOut:
        """One endpoint: its URL, events and status (and why it was disabled)."""
        return await webhook_service.detail(db_session, principal, endpoint_id)

    @post(
        "/{endpoint_id:str}/enable",
        operation_id="enableWebhook",
        status_code=200,
        opt=ADMIN,
        summary="Enable a webhook endpoint",
        responses=problem_responses(*KEYED, 403, *PATH_ID, notes={404: NO_ENDPOINT}),
    )
    async def enable(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal], endpoint_id: EndpointId
    ) -> WebhookOut:
        """Enable the endpoint: deliveries that waited while it was disabled are sent (dead ones need a redelivery)."""
        return await webhook_service.set_enabled(db_session, principal, endpoint_id, enabled=True)

    @post(
        "/{endpoint_id:str}/disable",
        operation_id="disableWebhook",
        status_code=200,
        opt=ADMIN,
        summary="Disable a webhook endpoint",
        responses=problem_responses(*KEYED, 403, *PATH_ID, notes={404: NO_ENDPOINT}),
    )
    async def disable(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal], endpoint_id: EndpointId
    ) -> WebhookOut:
        """Disable the endpoint: nothing is sent to it; new events wait for it to be enabled."""
        return await webhook_service.set_enabled(db_session, principal, endpoint_id, enabled=False)

    @delete(
        "/{endpoint_id:str}",
        operation_id="deleteWebhook",
        status_code=204,
        opt=ADMIN,
        summary="Delete a webhook endpoint",
        responses=problem_responses(*KEYED, 403, *PATH_ID, notes={404: NO_ENDPOINT}),
    )
    async def delete_webhook(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal], endpoint_id: EndpointId
    ) -> None:
        """Delete the endpoint with its delivery log; deliveries not yet sent are dropped."""
        await webhook_service.delete(db_session, principal, endpoint_id)

    @get(
        "/{endpoint_id:str}/deliveries",
        operation_id="listWebhookDeliveries",
        opt=ADMIN,
        summary="Delivery log of an endpoint",
        responses=problem_responses(*KEYED, 403, *PATH_ID, notes={404: NO_ENDPOINT}),
    )
    async def list_deliveries(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        endpoint_id: EndpointId,
        status: Annotated[
            Literal["pending", "sending", "delivered", "dead"] | None,
            Parameter(description="Only deliveries in this state."),
        ] = None,
        before: Annotated[
            str | None,
            Parameter(description="Only deliveries created before this ISO 8601 time (to page back).", max_length=64),
        ] = None,
    ) -> list[WebhookDeliveryOut]:
        """The endpoint's newest deliveries (at most 100): attempts, last status code or error, next attempt."""
        created_before = parse_timestamp(before, "before")
        return await webhook_service.deliveries(db_session, principal, endpoint_id, status, created_before)

    @get(
        "/{endpoint_id:str}/deliveries/{delivery_id:str}",
        operation_id="getWebhookDelivery",
        opt=ADMIN,
        summary="Read a delivery and its attempts",
        responses=problem_responses(*KEYED, 403, *PATH_ID, notes={404: NO_DELIVERY}),
    )
    async def get_delivery(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        endpoint_id: EndpointId,
        delivery_id: DeliveryId,
    ) -> WebhookDeliveryDetail:
        """One delivery with every attempt: when, the receiver's status code or the error, how long it took."""
        return await webhook_service.delivery(db_session, principal, endpoint_id, delivery_id)

    @post(
        "/{endpoint_id:str}/deliveries/{delivery_id:str}/redeliver",
        operation_id="redeliverWebhook",
        status_code=202,
        opt=ADMIN,
        summary="Send a delivery again",
        responses=problem_responses(
            *KEYED, 403, *PATH_ID, notes={404: NO_DELIVERY, 409: "The delivery is still pending or being sent."}
        ),
    )
    async def redeliver(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        endpoint_id: EndpointId,
        delivery_id: DeliveryId,
    ) -> Response[WebhookDeliveryOut]:
        """Queue the same event (same id and body) again as a new delivery, due now (sent once the endpoint is enabled)."""
        out = await webhook_service.redeliver(db_session, principal, endpoint_id, delivery_id)
        return Response(content=out, status_code=202)
