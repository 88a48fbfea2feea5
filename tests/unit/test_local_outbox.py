"""The local outbox provider: records the rendered message (masked recipient, text, delivery id, time) and
reports success; the registry keeps a tenant's real provider where it has one."""

from __future__ import annotations

from chalicelib.domain.notifications import Channel, RenderedMessage
from chalicelib.integrations.notify.outbox import OutboxProvider, OutboxRegistry, newest_across
from chalicelib.local import outbox_page
from tests.fakes.clock import FrozenClock
from tests.fakes.notify import FakeProvider, InMemoryOutbox, StaticProviders


def _message(ref: str = "d1") -> RenderedMessage:
    return RenderedMessage(
        event="ticket.assigned",
        channel=Channel.SMS,
        title="已为您安排工程师",
        text="工单 TK1 已安排",
        ref=ref,
    )


def test_a_send_is_recorded_masked_and_reported_sent() -> None:
    outbox, clock = InMemoryOutbox(), FrozenClock()
    provider = OutboxProvider(tenant_id="t1", channel=Channel.SMS, outbox=outbox, clock=clock)

    result = provider.send("+8613900000001", _message())

    assert result.provider_message_id == "outbox:d1"
    [entry] = outbox.entries
    assert (entry.tenant_id, entry.channel, entry.recipient) == ("t1", Channel.SMS, "139****0001")
    assert (entry.event, entry.title, entry.text) == (
        "ticket.assigned",
        "已为您安排工程师",
        "工单 TK1 已安排",
    )
    assert (entry.delivery_id, entry.sent_at) == ("d1", clock.now())


def test_wecom_userids_are_kept_as_they_are() -> None:
    outbox = InMemoryOutbox()
    OutboxProvider(tenant_id="t1", channel=Channel.WECOM, outbox=outbox, clock=FrozenClock()).send(
        "ZhangGong", _message()
    )
    assert outbox.entries[0].recipient == "ZhangGong"


def test_the_registry_prefers_a_configured_provider() -> None:
    real = FakeProvider("sms")
    registry = OutboxRegistry(
        StaticProviders({Channel.SMS: real}), outbox=InMemoryOutbox(), clock=FrozenClock()
    )

    assert registry.provider("t1", Channel.SMS) is real
    assert isinstance(registry.provider("t1", Channel.WECHAT), OutboxProvider)


def test_newest_across_tenants_is_newest_first_and_bounded() -> None:
    outbox, clock = InMemoryOutbox(), FrozenClock()
    for i, tenant in enumerate(["t1", "t2", "t1"]):
        OutboxProvider(tenant_id=tenant, channel=Channel.SMS, outbox=outbox, clock=clock).send(
            "+8613900000001", _message(f"d{i}")
        )
        clock.advance(seconds=1)

    assert [e.delivery_id for e in newest_across(outbox, ["t1", "t2"], limit=2)] == ["d2", "d1"]


def test_the_page_escapes_what_it_shows() -> None:
    outbox, clock = InMemoryOutbox(), FrozenClock()
    message = RenderedMessage(
        event="ticket.created", channel=Channel.WECOM, text="<script>x</script>", ref="d"
    )
    OutboxProvider(tenant_id="t1", channel=Channel.WECOM, outbox=outbox, clock=clock).send("u1", message)

    shown = outbox_page.page(outbox.entries)

    assert "&lt;script&gt;x&lt;/script&gt;" in shown and "<script>" not in shown
    assert outbox_page.handles("/local/outbox?tenant=t1") and outbox_page.handles("/local/outbox.json")
    assert not outbox_page.handles("/v1/local/outbox")
