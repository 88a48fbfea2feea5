"""E-commerce order webhooks: one pure adapter per platform (verify the signature, parse to OrderEvent).

    adapter = get_adapter("youzan")
    credentials = adapter.credentials_model.model_validate(stored)
    adapter.verify(headers=lower_cased, body=raw, credentials=credentials, now=clock.now())
    events = adapter.parse(headers=lower_cased, body=raw, credentials=credentials, received_at=clock.now())
    status, content_type, text = adapter.ack()

The formats, mappings and the relay design for Taobao/Tmall and JD are in docs/integrations.md.
"""

from __future__ import annotations

from chalicelib.integrations.shops.base import PayloadError, ShopAdapter, SignatureError
from chalicelib.integrations.shops.doudian import DoudianAdapter, DoudianCredentials
from chalicelib.integrations.shops.generic import GenericAdapter, GenericCredentials
from chalicelib.integrations.shops.shopify import ShopifyAdapter, ShopifyCredentials
from chalicelib.integrations.shops.youzan import YouzanAdapter, YouzanCredentials

ADAPTERS: dict[str, ShopAdapter] = {
    adapter.platform: adapter
    for adapter in (YouzanAdapter(), DoudianAdapter(), ShopifyAdapter(), GenericAdapter())
}


def get_adapter(platform: str) -> ShopAdapter:
    try:
        return ADAPTERS[platform]
    except KeyError:
        raise KeyError(f"unknown shop platform '{platform}' ({', '.join(sorted(ADAPTERS))})") from None


__all__ = [
    "ADAPTERS",
    "DoudianCredentials",
    "GenericCredentials",
    "PayloadError",
    "ShopAdapter",
    "ShopifyCredentials",
    "SignatureError",
    "YouzanCredentials",
    "get_adapter",
]
