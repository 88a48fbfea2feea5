"""The provider interface (defined in the domain so services can catch its errors without importing
adapters) and the helpers every HTTP provider shares: error mapping and a per-tenant registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from chalicelib.domain.notifications import (
    Channel,
    PermanentProviderError,
    Provider,
    ProviderError,
    ProviderResult,
    RenderedMessage,
    SendOutcomeUnknownError,
    TemporaryProviderError,
)

__all__ = [
    "TIMEOUT",
    "FactoryRegistry",
    "PermanentProviderError",
    "Provider",
    "ProviderError",
    "ProviderResult",
    "RenderedMessage",
    "SendOutcomeUnknownError",
    "TemporaryProviderError",
    "http_error",
]

# Connect fast, read a little longer: a provider that hangs is an outage, retried from the queue.
TIMEOUT = httpx.Timeout(8.0, connect=3.0)


# The request never left: no connection, or no free one in the pool. Any other transport error may come
# after the request was written (a read timeout, a reset while reading): the provider may have acted on it.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def http_error(e: httpx.HTTPError, provider: str) -> ProviderError:
    """Transport errors, 5xx and 429 are temporary; other 4xx (an invalid request) permanent. Those after
    which the request may have been acted on (a 5xx or 408, a timeout or error once it was sent) are
    `SendOutcomeUnknownError`, so a retry checks first where the provider allows it."""
    if isinstance(e, httpx.HTTPStatusError):
        status = e.response.status_code
        if status >= 500 or status == 408:
            return SendOutcomeUnknownError(f"{provider}: HTTP {status}")
        if status == 429:
            return TemporaryProviderError(f"{provider}: HTTP {status}")
        return PermanentProviderError(f"{provider}: HTTP {status}")
    if isinstance(e, NOT_SENT):
        return TemporaryProviderError(f"{provider}: {type(e).__name__}: {e}")
    return SendOutcomeUnknownError(f"{provider}: {type(e).__name__}: {e}")


class FactoryRegistry:
    """Channel → a factory of the tenant's provider (None: not configured for that tenant). Factories are
    cheap (they wrap pooled clients), so nothing is cached here."""

    def __init__(self, factories: Mapping[Channel, Callable[[str], Provider | None]]) -> None:
        self._factories = dict(factories)

    def provider(self, tenant_id: str, channel: Channel) -> Provider | None:
        factory = self._factories.get(channel)
        return factory(tenant_id) if factory else None
