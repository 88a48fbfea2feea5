from __future__ import annotations

import pytest
from pydantic import ValidationError

from chalicelib.domain.access import (
    Ownership,
    Permission,
    Principal,
    Role,
    Scope,
    can_read,
    can_see_pii,
    can_write,
)
from chalicelib.domain.common import ForbiddenError


def who(role: str, scope: str = "all", user: str = "u1") -> Principal:
    return Principal(tenant_id="t", user_id=user, role=Role(role), scope=Scope.parse(scope))


EAST_U2 = Ownership(region="华东", store="SH-001", owner_id="u2")


def test_scope_parsing():
    assert str(Scope.parse("region:华东")) == "region:华东"
    assert str(Scope.parse("own")) == "own"
    for bad in ("region", "own:x", "planet:mars"):
        with pytest.raises((ValueError, ValidationError)):
            Scope.parse(bad)


def test_role_permissions():
    assert who("admin").has(Permission.USERS_MANAGE)
    assert not who("manager").has(Permission.USERS_MANAGE)
    assert who("agent").has(Permission.CUSTOMERS_WRITE)
    for role in ("engineer", "finance"):
        assert not who(role).has(Permission.CUSTOMERS_WRITE)
    with pytest.raises(ForbiddenError):
        who("engineer").require(Permission.CUSTOMERS_WRITE)


@pytest.mark.parametrize(
    ("role", "scope", "read", "write", "pii"),
    [
        ("admin", "all", True, True, True),
        ("manager", "region:华东", True, True, True),
        ("manager", "region:西南", False, False, False),
        ("manager", "store:SH-001", True, True, True),
        ("manager", "store:SH-002", False, False, False),
        ("agent", "own", True, False, False),  # a colleague's customer: readable, masked, read-only
        ("agent", "all", True, True, True),
        ("engineer", "all", True, False, False),
        ("finance", "all", True, False, True),
    ],
)
def test_read_write_pii_matrix(role, scope, read, write, pii):
    p = who(role, scope)
    assert (can_read(p, EAST_U2), can_write(p, EAST_U2), can_see_pii(p, EAST_U2)) == (read, write, pii)


def test_own_agent_sees_own_customers_fully():
    p = who("agent", "own", user="u2")
    assert can_write(p, EAST_U2) and can_see_pii(p, EAST_U2)
