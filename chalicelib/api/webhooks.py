"""Webhooks: verify at the edge, enqueue, ack at once. No business work happens before the ack (WeCom
retries after 5 s; the URL check must answer within 1 s)."""

from __future__ import annotations

import hashlib

from chalice.app import Response

from chalicelib.api.http import Api, Ctx
from chalicelib.api.integrations import shop_adapter, shop_settings
from chalicelib.bootstrap import container
from chalicelib.domain.common import ForbiddenError, InvalidInputError, NotFoundError, UnauthorizedError
from chalicelib.integrations.shops import PayloadError
from chalicelib.integrations.shops import SignatureError as ShopSignatureError
from chalicelib.integrations.wecom.crypto import (
    MalformedMessageError,
    ReceiveIdError,
    ReplayError,
    SignatureError,
    WeComCrypto,
    check_timestamp,
)
from chalicelib.integrations.wecom.events import event_key_of
from chalicelib.services.ingest import IngestMessage

api = Api(__name__, tag="webhooks")
bp = api.blueprint

_WECOM_QUERY = ("msg_signature", "timestamp", "nonce")


def _wecom_crypto(tenant_id: str) -> WeComCrypto:
    settings = container().integrations.wecom(tenant_id)
    if settings is None:
        raise NotFoundError("WeCom is not configured for this tenant")
    return WeComCrypto(settings.token, settings.encoding_aes_key, settings.corp_id)


def _query(ctx: Ctx, names: tuple[str, ...]) -> dict[str, str]:
    params = dict(ctx.request.query_params or {})
    missing = [n for n in names if not params.get(n)]
    if missing:
        raise InvalidInputError(
            "missing query parameters", details=[{"field": n, "message": "required"} for n in missing]
        )
    return {n: params[n] for n in names}


@api.route(
    "/webhooks/wecom/{tenant_id}",
    "GET",
    summary="WeCom URL verification (answers the echostr)",
    auth=False,
    errors=(400, 403, 404),
)
def wecom_verify(ctx: Ctx, tenant_id: str) -> Response:
    q = _query(ctx, (*_WECOM_QUERY, "echostr"))
    try:
        echo = _wecom_crypto(tenant_id).verify_url(
            msg_signature=q["msg_signature"], timestamp=q["timestamp"], nonce=q["nonce"], echostr=q["echostr"]
        )
    except (SignatureError, ReceiveIdError) as e:
        raise ForbiddenError(f"WeCom verification failed: {e}") from e
    except MalformedMessageError as e:
        raise InvalidInputError(f"malformed echostr: {e}") from e
    # Exactly the plaintext: no quotes, BOM or newline.
    return Response(body=echo, status_code=200, headers={"Content-Type": "text/plain; charset=utf-8"})


@api.route(
    "/webhooks/wecom/{tenant_id}",
    "POST",
    summary="WeCom callback: verify, decrypt, enqueue, ack",
    auth=False,
    errors=(400, 403, 404),
)
def wecom_callback(ctx: Ctx, tenant_id: str) -> Response:
    q = _query(ctx, _WECOM_QUERY)
    body = ctx.body_bytes
    c = container()
    try:
        plaintext = _wecom_crypto(tenant_id).decrypt_callback(
            msg_signature=q["msg_signature"], timestamp=q["timestamp"], nonce=q["nonce"], body=body
        )
        check_timestamp(q["timestamp"], now=c.clock.now())
    except (SignatureError, ReceiveIdError, ReplayError) as e:
        raise ForbiddenError(f"WeCom callback rejected: {e}") from e
    except MalformedMessageError as e:
        raise InvalidInputError(f"the body is not a WeCom callback: {e}") from e
    key = event_key_of(plaintext)  # parsing waits for the worker: the ack does no more than it must
    message = IngestMessage(
        source="wecom", tenant_id=tenant_id, key=f"wecom:{key}", received_at=c.clock.now(), payload=plaintext
    )
    c.ingest_publisher.publish([message.model_dump(mode="json")])
    return Response(body="success", status_code=200, headers={"Content-Type": "text/plain; charset=utf-8"})


@api.route(
    "/webhooks/shop/{platform}/{tenant_id}",
    "POST",
    summary="Shop order webhook (youzan, doudian, shopify, generic): verify, enqueue, ack",
    auth=False,
    errors=(400, 401, 404),
)
def shop_webhook(ctx: Ctx, platform: str, tenant_id: str) -> Response:
    c = container()
    adapter = shop_adapter(platform)
    public, secrets = shop_settings(tenant_id, platform)
    fields = {k: v for k, v in public.items() if k != "updated_at"}  # bookkeeping, not a credential
    credentials = adapter.credentials_model.model_validate({**fields, **secrets})
    body = ctx.body_bytes
    headers = {k.lower(): str(v) for k, v in ctx.request.headers.items()}
    now = c.clock.now()
    try:
        adapter.verify(
            headers=headers, body=body, credentials=credentials, now=now
        )  # raw bytes, before parsing
        events = adapter.parse(headers=headers, body=body, credentials=credentials, received_at=now)
    except ShopSignatureError as e:
        raise UnauthorizedError(f"{platform} signature rejected: {e}") from e
    except PayloadError as e:
        raise InvalidInputError(f"the {platform} payload is malformed: {e}") from e
    if events:
        messages = [
            IngestMessage(
                source="shop",
                tenant_id=tenant_id,
                key=f"shop:{e.dedupe_key}",
                received_at=now,
                payload=e.model_dump(mode="json"),
                platform=platform,
            ).model_dump(mode="json")
            for e in events
        ]
    else:  # authentic but not an order event we map: kept raw, never dropped
        digest = hashlib.sha256(body).hexdigest()
        messages = [
            IngestMessage(
                source="shop",
                tenant_id=tenant_id,
                key=f"shop-raw:{platform}:{digest}",
                received_at=now,
                payload={"body": body.decode("utf-8", "replace")},
                platform=platform,
            ).model_dump(mode="json")
        ]
    c.ingest_publisher.publish(messages)
    status, content_type, ack = adapter.ack()
    return Response(body=ack, status_code=status, headers={"Content-Type": content_type})
