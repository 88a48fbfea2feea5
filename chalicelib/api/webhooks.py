"""Webhooks: verify at the edge, enqueue, ack at once. No business work happens before the ack (WeCom
retries after 5 s; the URL check must answer within 1 s)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from chalice.app import Response

from chalicelib.api.http import Api, Ctx, Media
from chalicelib.api.integrations import all_shop_settings, shop_adapter
from chalicelib.bootstrap import container
from chalicelib.domain.common import ForbiddenError, InvalidInputError, NotFoundError, UnauthorizedError
from chalicelib.integrations.shops import PayloadError
from chalicelib.integrations.shops import SignatureError as ShopSignatureError
from chalicelib.integrations.shops.intake import Intake, receive
from chalicelib.integrations.wecom.crypto import (
    MalformedMessageError,
    ReceiveIdError,
    ReplayError,
    SignatureError,
    WeComCrypto,
    check_timestamp,
)
from chalicelib.integrations.wecom.events import event_key_of
from chalicelib.services.ingest import IngestMessage, Rejection

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
    raw_response=(Media("text/plain", "wecom_echo"),),
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
    raw_body=Media("text/xml", "wecom_callback"),
    raw_response=(Media("text/plain", "wecom_ack"),),
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
    raw_body=Media("application/json", "shop_push", {"type": "object"}),
    raw_response=(
        Media("application/json", "shop_ack", {"type": "object"}),
        Media("text/plain", "shop_ack_text"),
    ),
    auth=False,
    errors=(400, 401, 404),
)
def shop_webhook(ctx: Ctx, platform: str, tenant_id: str) -> Response:
    c = container()
    adapter = shop_adapter(platform)
    settings = all_shop_settings(tenant_id, platform, adapter)
    body = ctx.body_bytes
    headers = {k.lower(): str(v) for k, v in ctx.request.headers.items()}
    now = c.clock.now()
    try:
        intake = receive(adapter, settings, headers=headers, body=body, now=now)  # verified on raw bytes
    except ShopSignatureError as e:
        raise UnauthorizedError(f"{platform} signature rejected: {e}") from e
    except PayloadError as e:
        raise InvalidInputError(f"the {platform} payload is malformed: {e}") from e
    c.ingest_publisher.publish(_shop_messages(tenant_id, platform, intake, body, now))
    status, content_type, ack = adapter.ack()
    return Response(body=ack, status_code=status, headers={"Content-Type": content_type})


def _shop_messages(
    tenant_id: str, platform: str, intake: Intake, body: bytes, now: datetime
) -> list[dict[str, object]]:
    """Events to take in; the messages kept instead (malformed ones, those of shops not configured) with
    their reason; and, for an authentic delivery with neither (a test push, a type we do not map), the raw
    body: nothing received is dropped."""

    def message(key: str, payload: object, **kept: object) -> dict[str, object]:
        return IngestMessage.model_validate(
            {
                "source": "shop",
                "tenant_id": tenant_id,
                "key": key,
                "received_at": now,
                "payload": payload,
                "platform": platform,
                **kept,
            }
        ).model_dump(mode="json")

    messages = [message(f"shop:{e.dedupe_key}", e.model_dump(mode="json")) for e in intake.events]
    messages += [
        message(f"shop:{n.dedupe_key}", n.model_dump(mode="json"), source="shop_notice")
        for n in intake.notices
    ]
    messages += [
        message(
            f"shop-kept:{p.dedupe_key}",
            p.model_dump(mode="json"),
            rejected=Rejection.DISABLED,
            reason=f"the {platform} settings of shop {p.shop_id} are disabled (the app was uninstalled)",
        )
        for p in intake.paused
    ]
    messages += [
        message(f"shop-kept:{r.key}", r.raw, rejected=Rejection.MALFORMED, reason=r.reason)
        for r in intake.rejected
    ]
    messages += [
        message(
            f"shop-kept:{e.dedupe_key}",
            e.model_dump(mode="json"),
            rejected=Rejection.UNKNOWN_SHOP,
            reason=f"shop {e.shop_id} is not configured for {platform}",
        )
        for e in intake.foreign
    ]
    if intake.empty:
        digest = hashlib.sha256(body).hexdigest()
        messages = [message(f"shop-raw:{platform}:{digest}", {"body": body.decode("utf-8", "replace")})]
    return messages
