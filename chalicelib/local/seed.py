"""The demo tenant a developer gets on the first `make run`."""

from __future__ import annotations

from chalicelib.bootstrap import Container
from chalicelib.domain.access import Principal, Role, Scope
from chalicelib.domain.customers import CustomerDraft
from chalicelib.services.tags import TagGroupDraft
from chalicelib.services.tenants import UserDraft

DEMO_TENANT = "演示连锁餐饮 (Demo Chain Restaurants)"


def seed_demo(c: Container) -> dict[str, str]:
    issued = c.tenants.create_tenant(name=DEMO_TENANT, admin_name="店长王芳")
    tid = issued.tenant_id
    admin = Principal(tenant_id=tid, user_id=issued.user.id, role=Role.ADMIN, scope=Scope.parse("all"))
    keys = {"admin": issued.api_key}
    for name, role, scope in (
        ("华东区经理 李强", Role.MANAGER, "region:华东"),
        ("客服 小陈", Role.AGENT, "own"),
        ("维修工程师 赵师傅", Role.ENGINEER, "all"),
        ("财务 孙会计", Role.FINANCE, "all"),
    ):
        user = c.tenants.create_user(
            tenant_id=tid, draft=UserDraft(name=name, role=role, scope=Scope.parse(scope))
        )
        keys[role.value] = user.api_key
    c.tags.create_group(
        principal=admin, draft=TagGroupDraft(name="口味偏好", tags=["火锅", "川菜", "粤菜", "甜品"])
    )
    for draft in (
        {
            "name": "张伟",
            "phone": "13812345678",
            "gender": "男",
            "birthday": "1988-05-03",
            "region": "华东",
            "store": "SH-001",
            "identities": [{"type": "unionid", "value": "oUnion_zhangwei"}],
            "tags": ["VIP", "火锅"],
        },
        {
            "name": "李娜",
            "phone": "+86 139 0000 1111",
            "gender": "女",
            "birthday": "1992-11-23",
            "region": "华东",
            "store": "SH-002",
            "identities": [{"type": "wecom_external_userid", "value": "wmDemoLiNa"}],
            "tags": ["新客户", "甜品"],
        },
        {
            "name": "王磊",
            "phone": "15900002222",
            "gender": "male",
            "region": "西南",
            "store": "CD-001",
            "identities": [{"type": "youzan_buyer_id", "value": "yz_8812"}],
            "tags": ["沉默客户", "川菜"],
        },
        {
            "name": "Emily Chen",
            "phone": "+1 415 555 0100",
            "gender": "F",
            "region": "华南",
            "store": "GZ-001",
            "attributes": {"preferred_language": "en"},
            "tags": ["普通会员"],
        },
    ):
        c.customers.create(principal=admin, draft=CustomerDraft.model_validate(draft), source="seed")
    return {"tenant_id": tid, **{f"key_{k}": v for k, v in keys.items()}}
