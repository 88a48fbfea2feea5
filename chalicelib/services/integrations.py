"""Integration settings per tenant (WeCom callback + API credentials, shop credentials), with a short
in-process cache so a warm webhook ack reads nothing from DynamoDB."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from chalicelib.domain.access import Permission, Principal
from chalicelib.domain.common import Clock, NotFoundError
from chalicelib.domain.configuration import ConfigKind
from chalicelib.services.cache import PROCESS_VERSIONS, ConfigCache
from chalicelib.services.ports import ConfigVersions, IntegrationRepository

WECOM = "wecom"


class WeComSettingsIn(BaseModel):
    """What an admin enters from the WeCom admin console (应用管理 → 接收消息 / 客户联系)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    corp_id: str = Field(min_length=4, max_length=64, pattern=r"^w[wx][0-9a-zA-Z]+$")
    token: SecretStr = Field(description="callback Token (3–32 letters/digits)")
    encoding_aes_key: SecretStr = Field(description="callback EncodingAESKey (43 characters)")
    secret: SecretStr = Field(description="the app's or 客户联系's secret, for outbound API calls")
    agent_id: int | None = None

    @field_validator("token")
    @classmethod
    def _token(cls, v: SecretStr) -> SecretStr:
        if not re.fullmatch(r"[0-9A-Za-z]{3,32}", v.get_secret_value()):
            raise ValueError("the token has 3 to 32 letters or digits")
        return v

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key(cls, v: SecretStr) -> SecretStr:
        if not re.fullmatch(r"[0-9A-Za-z+/]{43}", v.get_secret_value()):
            raise ValueError("the EncodingAESKey has exactly 43 letters, digits, + or /")
        return v

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: SecretStr) -> SecretStr:
        if not 8 <= len(v.get_secret_value()) <= 128:
            raise ValueError("the secret has 8 to 128 characters")
        return v


class WeComSettingsPublic(BaseModel):
    corp_id: str
    agent_id: int | None
    token: str
    encoding_aes_key: str
    secret: str
    updated_at: datetime


class WeComSettings(BaseModel):
    """Decrypted, for the adapters only."""

    corp_id: str
    agent_id: int | None
    token: str
    encoding_aes_key: str
    secret: str


def shop_kind(platform: str, shop_id: str | None = None) -> str:
    """Where a shop platform's settings are kept: one per shop, or (the original way) one per platform."""
    return f"shop#{platform}#{shop_id}" if shop_id else f"shop#{platform}"


# Public fields of shop settings that are bookkeeping, not credentials.
DISABLED_AT, DISABLED_REASON = "disabled_at", "disabled_reason"
BOOKKEEPING = frozenset({"updated_at", DISABLED_AT, DISABLED_REASON})


def mask_secret(value: str) -> str:
    return f"{value[:2]}…{value[-2:]}" if len(value) > 8 else "…"


class IntegrationService:
    def __init__(
        self,
        *,
        integrations: IntegrationRepository,
        clock: Clock,
        config_versions: ConfigVersions = PROCESS_VERSIONS,
    ) -> None:
        self._repo = integrations
        self._clock = clock
        self._cache: ConfigCache[tuple[str, str], tuple[dict[str, Any], dict[str, str]] | None] = ConfigCache(
            ConfigKind.INTEGRATIONS, config_versions
        )
        self._shops: ConfigCache[tuple[str, str], list[tuple[str | None, dict[str, Any], dict[str, str]]]] = (
            ConfigCache(ConfigKind.INTEGRATIONS, config_versions)
        )

    def set_wecom(self, *, principal: Principal, settings: WeComSettingsIn) -> WeComSettingsPublic:
        principal.require(Permission.USERS_MANAGE)  # integration secrets are an admin's business
        now = self._clock.now()
        public = {"corp_id": settings.corp_id, "agent_id": settings.agent_id, "updated_at": now.isoformat()}
        secrets = {
            "token": settings.token.get_secret_value(),
            "encoding_aes_key": settings.encoding_aes_key.get_secret_value(),
            "secret": settings.secret.get_secret_value(),
        }
        self._repo.put(principal.tenant_id, WECOM, public, secrets)
        self._cache.changed(principal.tenant_id, (principal.tenant_id, WECOM))
        return _public(public, secrets)

    def get_wecom_public(self, *, principal: Principal) -> WeComSettingsPublic:
        principal.require(Permission.USERS_MANAGE)
        found = self._repo.get(principal.tenant_id, WECOM)
        if found is None:
            raise NotFoundError("WeCom is not configured for this tenant")
        return _public(*found)

    def wecom(self, tenant_id: str) -> WeComSettings | None:
        found = self._cached(tenant_id, WECOM)
        if found is None:
            return None
        public, secrets = found
        return WeComSettings(corp_id=public["corp_id"], agent_id=public.get("agent_id"), **secrets)

    def set_raw(
        self, *, principal: Principal, kind: str, public: dict[str, Any], secrets: dict[str, str]
    ) -> None:
        principal.require(Permission.USERS_MANAGE)
        self._repo.put(
            principal.tenant_id, kind, {**public, "updated_at": self._clock.now().isoformat()}, secrets
        )
        self._cache.changed(principal.tenant_id, (principal.tenant_id, kind))

    def get_raw(self, tenant_id: str, kind: str) -> tuple[dict[str, Any], dict[str, str]] | None:
        return self._cached(tenant_id, kind)

    def disable_shop(
        self, tenant_id: str, platform: str, shop_id: str, *, shop_field: str | None, reason: str
    ) -> list[str]:
        """The shop's settings marked disabled (the platform says the app was uninstalled): deliveries for
        the shop are still verified, then kept but not processed, except the platform's privacy requests,
        which come afterwards on purpose; so the secrets stay. Saving the settings again enables them.
        Returns the kinds changed (none when already disabled: the first time is kept)."""
        legacy = shop_kind(platform)
        changed = []
        for kind, public, secrets in self._repo.with_prefix(tenant_id, legacy):  # fresh, not cached
            own = kind == shop_kind(platform, shop_id)
            pinned = kind == legacy and shop_field is not None and str(public.get(shop_field)) == shop_id
            if not (own or pinned) or public.get(DISABLED_AT):
                continue
            marked = {**public, DISABLED_AT: self._clock.now().isoformat(), DISABLED_REASON: reason}
            self._repo.put(tenant_id, kind, marked, secrets)
            self._cache.changed(tenant_id, (tenant_id, kind))
            self._shops.changed(tenant_id, (tenant_id, platform))
            changed.append(kind)
        return changed

    def shop_settings(
        self, tenant_id: str, platform: str
    ) -> list[tuple[str | None, dict[str, Any], dict[str, str]]]:
        """Every stored setting of a shop platform: (shop id, public, secrets). The shop id is None for the
        settings saved the original way (`shop#<platform>`, one per platform, optionally pinned to a shop by
        its own field), else the shop they were saved for (`shop#<platform>#<shop id>`). One Query, cached
        like the rest (a warm webhook ack reads nothing)."""
        legacy = shop_kind(platform)

        def load() -> list[tuple[str | None, dict[str, Any], dict[str, str]]]:
            out: list[tuple[str | None, dict[str, Any], dict[str, str]]] = []
            for kind, public, secrets in sorted(self._repo.with_prefix(tenant_id, legacy)):
                if kind == legacy:  # the original settings first
                    out.insert(0, (None, public, secrets))
                elif kind.startswith(f"{legacy}#"):
                    out.append((kind.removeprefix(f"{legacy}#"), public, secrets))
            return out

        return self._shops.get(tenant_id, (tenant_id, platform), load)

    def _cached(self, tenant_id: str, kind: str) -> tuple[dict[str, Any], dict[str, str]] | None:
        return self._cache.get(tenant_id, (tenant_id, kind), lambda: self._repo.get(tenant_id, kind))


def _public(public: dict[str, Any], secrets: dict[str, str]) -> WeComSettingsPublic:
    return WeComSettingsPublic(
        corp_id=public["corp_id"],
        agent_id=public.get("agent_id"),
        token=mask_secret(secrets["token"]),
        encoding_aes_key=mask_secret(secrets["encoding_aes_key"]),
        secret=mask_secret(secrets["secret"]),
        updated_at=public["updated_at"],
    )
