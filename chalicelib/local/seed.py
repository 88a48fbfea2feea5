"""The demo tenant a developer gets on the first `make run`."""

from __future__ import annotations

from decimal import Decimal

from chalicelib.bootstrap import Container
from chalicelib.domain.access import Principal, Role, Scope
from chalicelib.domain.customers import CustomerDraft, Identity
from chalicelib.domain.inventory import StockChange
from chalicelib.domain.orders import OrderEvent, OrderItem, OrderStatus
from chalicelib.services.assignment import StaffProfileDraft
from chalicelib.services.inventory import PartDraft
from chalicelib.services.pricing import CoefficientDraft, ModifierDraft, PriceRuleDraft
from chalicelib.services.settlement import RuleDraft
from chalicelib.services.tags import TagGroupDraft
from chalicelib.services.tenants import IntegrationKeyDraft, UserDraft
from chalicelib.services.tickets import TicketDraft

DEMO_TENANT = "演示连锁餐饮 (Demo Chain Restaurants)"


def seed_demo(c: Container) -> dict[str, str]:
    issued = c.tenants.create_tenant(name=DEMO_TENANT, admin_name="店长王芳")
    tid = issued.tenant_id
    admin = Principal(tenant_id=tid, user_id=issued.user.id, role=Role.ADMIN, scope=Scope.parse("all"))
    keys = {"admin": issued.api_key}
    ids = {"admin": issued.user.id}
    for name, role, scope in (
        ("华东区经理 李强", Role.MANAGER, "region:华东"),
        ("客服 小陈", Role.AGENT, "all"),
        ("维修工程师 赵师傅", Role.ENGINEER, "all"),
        ("财务 孙会计", Role.FINANCE, "all"),
    ):
        user = c.tenants.create_user(
            tenant_id=tid, draft=UserDraft(name=name, role=role, scope=Scope.parse(scope))
        )
        keys[role.value] = user.api_key
        ids[role.value] = user.user.id
    seed_staff(c, admin, ids)
    # What the demo's H5 pages and tracking send with: /v1/events and /v1/h5/tickets take nothing else.
    h5 = c.tenants.create_integration_key(principal=admin, draft=IntegrationKeyDraft(name="演示 H5 / 小程序"))
    keys["integration"] = h5.secret
    c.tags.create_group(
        principal=admin, draft=TagGroupDraft(name="口味偏好", tags=["火锅", "川菜", "粤菜", "甜品"])
    )
    customers: dict[str, str] = {}
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
        created = c.customers.create(
            principal=admin, draft=CustomerDraft.model_validate(draft), source="seed"
        )
        customers.setdefault("customer_id", created.customer.id)  # the README walkthrough's customer (张伟)
    seed_settlement(c, admin)
    seed_samples(c, admin, customers["customer_id"])
    return {
        "tenant_id": tid,
        **customers,
        **{f"key_{k}": v for k, v in keys.items()},
        **{f"user_{k}": v for k, v in ids.items()},
    }


# Every hour of every day (start == end is a 24-hour window): the demo assigns whenever it is tried.
ALL_DAY = {day: [("00:00", "00:00")] for day in range(7)}


def seed_staff(c: Container, admin: Principal, ids: dict[str, str]) -> None:
    """Staff profiles, without which the assignment engine has nobody to give a ticket to: the engineer
    has the preset repair template's skill (appliance_repair ≥ 2) in the customers' region; the others
    have profiles too (region, shifts, WeCom id) but no repair skill, so tickets go to the engineer."""
    profiles: dict[str, dict[str, object]] = {
        "engineer": {
            "region": "华东",
            "store": "SH-001",
            "skills": {"appliance_repair": 4, "installation": 3},
        },
        "manager": {"region": "华东", "skills": {"complaint_handling": 4}, "senior": True},
        "agent": {"region": "华东", "skills": {"customer_service": 3}},
        "finance": {"skills": {"billing": 4}, "capacity": 0},
    }
    for role, profile in profiles.items():
        draft = StaffProfileDraft.model_validate(
            {"shifts": ALL_DAY, "wecom_userid": f"demo_{role}", **profile}
        )
        c.assignment.put_staff(principal=admin, user_id=ids[role], draft=draft)


def seed_settlement(c: Container, admin: Principal) -> None:
    """Prices, parts and commission rules, so a repair ticket closed in the demo is billed and settled."""
    for rule in (
        {"item": "repair", "price": "150.00"},
        {"item": "repair", "city": "上海", "price": "188.00"},
        {"item": "repair", "city": "成都", "price": "158.00"},
        {"item": "installation", "price": "120.00"},
    ):
        c.pricing.publish_rule(principal=admin, draft=PriceRuleDraft.model_validate(rule))
    for modifier in (
        {
            "modifier_id": "rush",
            "kind": "rush",
            "name": "加急服务 +20%",
            "name_en": "rush +20%",
            "percent": "20",
            "requires_rush": True,
            "items": ["repair", "installation"],
        },
        {
            "modifier_id": "vip",
            "kind": "member",
            "name": "VIP 95 折",
            "name_en": "VIP 5% off",
            "percent": "5",
            "customer_types": ["VIP"],
        },
    ):
        c.pricing.publish_modifier(principal=admin, draft=ModifierDraft.model_validate(modifier))
    c.pricing.publish_coefficient(
        principal=admin, draft=CoefficientDraft.model_validate({"city": "成都", "coefficient": "0.95"})
    )
    for part in (
        {
            "sku": "CAP-35UF",
            "name": "压缩机启动电容",
            "unit_cost": "18.00",
            "price": "45.00",
            "warranty_months": 36,
        },
        {
            "sku": "FAN-MOTOR",
            "name": "室外风机电机",
            "unit_cost": "150.00",
            "price": "268.30",
            "warranty_months": 18,
        },
    ):
        draft = PartDraft.model_validate(part)
        c.inventory.put_part(principal=admin, sku=draft.sku, draft=draft)
        c.inventory.change_stock(
            principal=admin, sku=draft.sku, change=StockChange(warehouse="SH-WH", delta=20, reason="seed")
        )
    split: dict[str, object] = {
        "id": "ticket-split",
        "kind": "split",
        "name": "维修工单分成 门店/工程师/平台",
        "shares": [
            {"role": "store", "percent": "35"},
            {"role": "engineer", "percent": "45"},
            {"role": "platform", "percent": "20"},
        ],
    }
    tiers: dict[str, object] = {
        "id": "engineer-tiers",
        "kind": "tiered",
        "name": "工程师月度阶梯奖励",
        "beneficiary": "engineer",
        "mode": "marginal",
        "tiers": [
            {"from_amount": "0", "rate_percent": "0"},
            {"from_amount": "5000.00", "rate_percent": "2"},
            {"from_amount": "10000.00", "rate_percent": "3.5"},
        ],
    }
    for commission in (split, tiers):
        c.settlement.publish_rule(principal=admin, draft=RuleDraft(applies_to="ticket", rule=commission))


def seed_samples(c: Container, admin: Principal, customer_id: str) -> None:
    """Two paid shop orders on the customers' timelines and one open ticket waiting for triage (open, so
    the walkthrough's bill and the engineer's statement are the walkthrough's own)."""
    now = c.clock.now()
    for n, (buyer, sku, name, price) in enumerate(
        (
            (Identity(type="unionid", value="oUnion_zhangwei"), "AC-CLEAN", "空调深度清洗", "168.00"),
            (Identity(type="youzan_buyer_id", value="yz_8812"), "HOTPOT-SET", "火锅双人套餐", "298.00"),
        )
    ):
        c.orders.ingest(
            admin.tenant_id,
            OrderEvent(
                platform="youzan",
                shop_id="demo-shop",
                order_id=f"DEMO-{n + 1:04d}",
                status=OrderStatus.PAID,
                dedupe_key=f"demo-order-{n + 1}",
                buyer=[buyer],
                items=[OrderItem(sku=sku, name=name, quantity=1, unit_price=Decimal(price))],
                total_amount=Decimal(price),
                created_at=now,
                paid_at=now,
                occurred_at=now,
                raw_type="trade_TradePaid",
            ),
        )
    c.tickets.create(
        principal=admin,
        draft=TicketDraft(
            template_id="installation",
            customer_id=customer_id,
            fields={"product": "壁挂空调", "install_address": "上海市徐汇区漕溪北路 88 号"},
        ),
    )
