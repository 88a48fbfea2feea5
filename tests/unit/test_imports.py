"""Legacy CSV import: parsing and clustering on the real sample exports (tests/data) and on small cases."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.customers import Gender, Identity
from chalicelib.domain.import_columns import CUSTOMERS, ORDERS, ImportHeaderError, template_csv
from chalicelib.domain.imports import (
    NAME_PLACEHOLDER,
    UNDATED,
    CustomerRow,
    ImportIssue,
    OrderRow,
    PersonRecord,
    cluster_people,
    decode_export,
    index_people,
    link_order,
    parse_customers,
    parse_date,
    parse_orders,
    split_tags,
    summarize,
)
from chalicelib.domain.orders import OrderStatus

DATA = Path(__file__).resolve().parents[1] / "data"
CUSTOMERS_TEXT = decode_export((DATA / "customers_legacy.csv").read_bytes())
ORDERS_TEXT = decode_export((DATA / "orders_legacy.csv").read_bytes())
CUSTOMER_HEADER = "external_id,name,phone,gender,birthday,province,city,store,unionid,tags,first_seen,note\n"
ORDER_HEADER = (
    "platform,order_id,buyer_phone,buyer_unionid,buyer_nick,sku,item_name,quantity,unit_price,"
    "total_amount,status,paid_at,store\n"
)


def customers_csv(*records: str) -> str:
    return CUSTOMER_HEADER + "".join(r + "\n" for r in records)


def orders_csv(*records: str) -> str:
    return ORDER_HEADER + "".join(r + "\n" for r in records)


def split(results):
    rows = [r for r in results if isinstance(r, CustomerRow | OrderRow)]
    issues = [r for r in results if isinstance(r, ImportIssue)]
    return rows, issues


def people_of(text: str) -> list[PersonRecord]:
    rows, _ = split(list(parse_customers(text)))
    return cluster_people(rows)


def projection(people: list[PersonRecord]) -> list[dict[str, object]]:
    """A person without row numbers (which change when the file is reordered)."""
    return [p.model_dump(mode="json", exclude={"rows"}) for p in people]


@pytest.fixture(scope="module")
def customer_results() -> list[CustomerRow | ImportIssue]:
    return list(parse_customers(CUSTOMERS_TEXT))


@pytest.fixture(scope="module")
def people(customer_results) -> list[PersonRecord]:
    return cluster_people(r for r in customer_results if isinstance(r, CustomerRow))


@pytest.fixture(scope="module")
def by_external_id(people) -> dict[str, PersonRecord]:
    return {external_id: p for p in people for external_id in p.external_ids}


@pytest.fixture(scope="module")
def order_results() -> list[OrderRow | ImportIssue]:
    return list(parse_orders(ORDERS_TEXT))


# -- the customers file -------------------------------------------------------------------------------
def test_the_file_has_2207_records_53_rejected_for_want_of_an_identity(customer_results):
    rows, issues = split(customer_results)
    assert len(customer_results) == 2207
    assert len(rows) == 2154
    assert len(issues) == 53
    assert all(i.code == "no_identity" and i.reason.startswith("no identity: ") for i in issues)
    assert all(i.raw["external_id"].startswith("BAD-") and i.row >= 1 for i in issues)
    assert Counter(i.reason for i in issues) == {
        "no identity: '1381234567x' is not a CN mobile number or an E.164 number; no unionid": 22,
        "no identity: '12345' is not a CN mobile number or an E.164 number; no unionid": 18,
        "no identity: no phone; no unionid": 13,
    }


def test_row_numbers_are_data_record_numbers(customer_results):
    assert [r.row for r in customer_results] == list(range(1, 2208))
    first = customer_results[0]
    assert isinstance(first, CustomerRow) and first.external_id == "LEGACY-000541"


def test_rows_with_an_invalid_birthday_are_kept_without_it_and_warned(customer_results):
    rows, _ = split(customer_results)
    assert summarize(customer_results).model_dump() == {
        "accepted": 2154,
        "rejected": {"no_identity": 53},
        "warnings": {"invalid_birthday": 20},
    }
    warned = [r for r in rows if r.warnings]
    assert len(warned) == 20
    for row in warned:
        assert row.birthday is None
        [warning] = row.warnings
        assert warning.field == "birthday" and warning.raw["birthday"] == "2024-13-45"
        assert "'2024-13-45' is not a calendar date" in warning.reason


def test_the_file_holds_2000_people(people):
    assert len(people) == 2000
    assert Counter(len(p.rows) for p in people) == {1: 1846, 2: 154}
    assert len({p.key for p in people}) == 2000
    assert [p.key for p in people] == sorted(p.key for p in people)
    every_identity = [i.key for p in people for i in p.identities]
    assert len(every_identity) == len(set(every_identity))  # an identity belongs to one person


def test_birthdays_in_every_format_of_the_file(by_external_id):
    assert by_external_id["LEGACY-000087"].birthday == date(1993, 8, 4)  # 1993年08月04日
    assert by_external_id["LEGACY-001170"].birthday == date(1981, 12, 17)  # 1981/12/17
    assert by_external_id["LEGACY-001267"].birthday == date(1991, 9, 3)  # 1991-09-03


@pytest.mark.parametrize(
    "text",
    [
        "1990-05-03",
        "1990/05/03",
        "1990年05月03日",
        "1990-5-3",
        "1990/5/3",
        "1990年5月3日",
        "1990.05.03",
        "19900503",
        " 1990-05-03 ",
        "１９９０年５月３日",
        "1990-05-03 00:00:00",
    ],
)
def test_parse_date_formats(text):
    assert parse_date(text) == date(1990, 5, 3)


@pytest.mark.parametrize("text", ["2024-13-45", "1990-02-30", "05/03/1990", "1990年5月", "soon", ""])
def test_parse_date_refuses(text):
    with pytest.raises(ValueError):
        parse_date(text)


def test_the_same_phone_in_other_formats_is_one_person(people, by_external_id):
    person = by_external_id["LEGACY-000087"]  # "+86 138 3202 6320" and "138-3202-6320"
    assert person is by_external_id["CRM2-000087"]
    assert person.phone == "+8613832026320"
    raw_phone = {r["external_id"]: r["phone"] for r in csv.DictReader(io.StringIO(CUSTOMERS_TEXT))}
    merged = [p for p in people if len(p.rows) > 1]
    assert all(len({r.phone for r in p.rows if r.phone}) == 1 for p in merged)
    shapes = {_shape(raw_phone[external_id]) for p in merged for external_id in p.external_ids}
    assert shapes == {
        "+99 999 9999 9999",
        "999-9999-9999",
        "9999999999999",
        "+9999999999999",
        "(+99) 99999999999",
        " 99999999999 ",
        "99999999999",
    }


def _shape(phone: str) -> str:
    return "".join("9" if c.isdigit() else c for c in phone)


def test_merged_people_keep_both_external_ids_and_the_union_of_tags(by_external_id):
    person = by_external_id["LEGACY-000087"]
    assert person.identities == [
        Identity(type="phone", value="+8613832026320"),
        Identity(type="legacy_id", value="CRM2-000087"),
        Identity(type="legacy_id", value="LEGACY-000087"),
    ]
    assert person.key == "legacy_id:CRM2-000087"
    assert person.tags == ["少糖多冰", "冬季服饰意向"]
    # the real name wins over the salutation of the other export, which is kept in history
    assert person.name == "雷秀子"
    assert person.history == {"name": ["雷秀子", "雷先生"]}
    assert person.note == '喜欢"新品"试吃'


def test_an_invalid_birthday_is_filled_from_the_other_record_of_the_person(customer_results, by_external_id):
    warned = [r for r in customer_results if isinstance(r, CustomerRow) and r.warnings]
    filled = [by_external_id[r.external_id] for r in warned if r.external_id]
    assert all(len(p.rows) == 2 for p in filled)  # each of the 20 has a twin in the other export
    assert sum(p.birthday is not None for p in filled) == sum(any(r.birthday for r in p.rows) for p in filled)
    assert all("birthday" not in p.history for p in filled)


def test_tags_are_split_stripped_and_deduplicated():
    assert split_tags("VIP; 母婴；VIP;;  ") == ["VIP", "母婴"]
    assert split_tags("") == []


def test_every_person_is_a_valid_customer_draft(people, by_external_id):
    drafts = [p.to_draft() for p in people]
    assert len(drafts) == 2000
    draft = by_external_id["LEGACY-000087"].to_draft()
    assert draft.phone == "+8613832026320" and draft.gender is Gender.FEMALE
    assert [(i.type, i.value) for i in draft.identities] == [
        ("legacy_id", "CRM2-000087"),
        ("legacy_id", "LEGACY-000087"),
    ]
    assert draft.attributes["import_history"] == {"name": ["雷秀子", "雷先生"]}
    assert draft.attributes["city"] == "杭州" and draft.attributes["first_seen"] == "2024-02-09"


def test_parse_and_cluster_twice_give_identical_output():
    first, second = people_of(CUSTOMERS_TEXT), people_of(CUSTOMERS_TEXT)
    assert [p.model_dump() for p in first] == [p.model_dump() for p in second]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_shuffled_file_gives_the_same_people(seed, people):
    header, *records = CUSTOMERS_TEXT.splitlines(keepends=True)
    random.Random(seed).shuffle(records)
    shuffled = people_of(header + "".join(records))
    assert projection(shuffled) == projection(people)


def test_both_legacy_files_parse_and_cluster_whole():
    # Speed is measured by bench/imports.py, not asserted here (a loaded CI machine is not a benchmark).
    assert people_of(CUSTOMERS_TEXT)
    assert list(parse_orders(ORDERS_TEXT))


# -- customers: small cases ---------------------------------------------------------------------------
def test_bom_crlf_and_quoted_commas_quotes_and_newlines():
    text = (
        "\ufeffexternal_id,name,phone,gender,birthday,province,city,store,unionid,tags,first_seen,note\r\n"
        'A1,张伟,13812345678,男,1990/5/3,浙江,杭州,HZ-001,,VIP,2024-01-02,"说""你好"",再见\r\n第二行"\r\n'
        "\r\n"
        "A2,李娜,,F,,,,,oU1,,,\r\n"
    )
    for lines in (text, text.splitlines(keepends=True)):
        rows, issues = split(list(parse_customers(lines)))
        assert not issues
        first, second = rows
        assert first.external_id == "A1" and first.note == '说"你好",再见\r\n第二行'
        assert first.birthday == date(1990, 5, 3) and first.gender is Gender.MALE
        assert (second.row, second.unionid, second.phone, second.gender) == (3, "oU1", None, Gender.FEMALE)


def test_a_wrong_header_stops_the_file_naming_each_column():
    with pytest.raises(ImportHeaderError) as e:
        list(parse_customers("id,name,phnoe\n1,x,13812345678\n"))
    assert [(d["field"], d["message"]) for d in e.value.details] == [
        ("id", "unknown column"),
        ("phnoe", "unknown column (did you mean phone?)"),
        ("phone or unionid", "missing column (the file needs one of them)"),
    ]
    assert "id: unknown column" in e.value.message and "scrm import template customers" in e.value.message
    with pytest.raises(ImportHeaderError, match="unit_price: missing required column"):
        list(parse_orders("platform,order_id,sku,quantity,status\n"))
    with pytest.raises(ImportHeaderError, match="phone: the column appears more than once"):
        list(parse_customers("phone,name,Phone\n"))
    with pytest.raises(ImportHeaderError, match="file is empty"):
        list(parse_customers("\n\n"))


def test_optional_columns_may_be_left_out_and_unnamed_empty_columns_are_ignored():
    [row] = parse_customers("Phone, name ,,\n13812345678,张伟,,\n")
    assert isinstance(row, CustomerRow) and (row.phone, row.name, row.unionid) == (
        "+8613812345678",
        "张伟",
        None,
    )
    [issue] = parse_customers("phone,name,\n13812345678,张伟,多出来的\n")
    assert isinstance(issue, ImportIssue) and issue.code == "malformed_row"
    [order] = parse_orders(
        "platform,order_id,item_name,quantity,unit_price,status\ntmall,O1,奶茶,2,18,paid\n"
    )
    assert (
        isinstance(order, OrderRow)
        and order.total_amount == Decimal("36.00")
        and order.items[0].sku == "奶茶"
    )


@pytest.mark.parametrize("spec", [CUSTOMERS, ORDERS], ids=lambda s: s.kind)
def test_the_template_imports_cleanly(spec):
    text = template_csv(spec)
    header, example = text.splitlines()
    assert header.split(",") == list(spec.names)
    parse = parse_customers if spec is CUSTOMERS else parse_orders
    [row] = parse(text)
    assert (
        isinstance(row, CustomerRow | OrderRow)
        and row.warnings == []
        and len(example.split(",")) == len(spec.names)
    )


def test_the_docs_list_every_column_with_its_format():
    """docs/imports.md's tables are these columns, in this order, with the same required flags."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "imports.md").read_text()
    for spec in (CUSTOMERS, ORDERS):
        table = doc.split(f"<!-- columns:{spec.kind} -->")[1].split("<!-- /columns -->")[0]
        cells = [line.split("|")[1:4] for line in table.strip().splitlines()[2:]]
        listed = [(name.strip().strip("`"), required.strip()) for name, required, _ in cells]
        one_of = {c for group in spec.one_of for c in group}
        expected = [
            (c.name, "yes" if c.required else "one of" if c.name in one_of else "no") for c in spec.columns
        ]
        assert listed == expected


def test_a_record_with_an_unquoted_comma_is_rejected_and_short_records_are_padded():
    results = list(
        parse_customers(
            customers_csv(
                "A1,张伟,13812345678,男,,浙江,杭州,HZ-001,,,2024-01-02,投诉过,已解决",
                "A2,李娜,13912345678",
                "A3,王芳,13712345678,女,,,,,,,,,,",  # trailing empty fields
            )
        )
    )
    issue, short, trailing = results
    assert isinstance(issue, ImportIssue) and issue.code == "malformed_row" and issue.row == 1
    assert issue.raw["_extra_1"] == "已解决"
    assert isinstance(short, CustomerRow) and short.phone == "+8613912345678" and short.note is None
    assert isinstance(trailing, CustomerRow) and trailing.name == "王芳"


def test_optional_fields_that_do_not_parse_are_warnings():
    [row] = parse_customers(
        customers_csv("A1,张伟,12345,X,1850-01-01,浙江,杭州,HZ-001,oU1,,yesterday,"),
    )
    assert isinstance(row, CustomerRow)
    assert (row.phone, row.unionid, row.gender, row.birthday, row.first_seen) == (
        None,
        "oU1",
        Gender.UNKNOWN,
        None,
        None,
    )
    assert [(w.field, w.code) for w in row.warnings] == [
        ("phone", "invalid_phone"),
        ("gender", "invalid_gender"),
        ("birthday", "invalid_birthday"),
        ("first_seen", "invalid_first_seen"),
    ]


def test_a_future_birthday_is_a_warning_when_today_is_given():
    text = customers_csv("A1,张伟,13812345678,男,2030-01-01,,,,,,,")
    [row] = parse_customers(text)
    assert isinstance(row, CustomerRow) and row.birthday == date(2030, 1, 1)
    [row] = parse_customers(text, today=date(2026, 1, 1))
    assert isinstance(row, CustomerRow) and row.birthday is None
    assert row.warnings[0].code == "invalid_birthday"


def test_a_record_without_a_name_is_kept_and_named_by_its_twin_or_a_placeholder():
    people = people_of(
        customers_csv(
            "A1,,13812345678,,,,,,,,2024-01-01,",
            "B1,王先生,138-1234-5678,,,,,,,,2024-05-01,",
            "A2,,13912345678,,,,,,,,,",
            "A3,陈先生,13712345678,,,,,,,,,",
        )
    )
    names = {p.external_ids[0]: p.name for p in people}
    assert names == {"A1": "王先生", "A2": NAME_PLACEHOLDER, "A3": "陈先生"}
    first = next(p for p in people if "A1" in p.external_ids)
    assert first.rows[0].warnings[0].code == "no_name"


def test_a_record_without_an_external_id_is_kept_without_a_legacy_id():
    [row] = parse_customers(customers_csv(",张伟,13812345678,,,,,,,,,"))
    assert isinstance(row, CustomerRow) and row.external_id is None
    assert row.identities() == [Identity(type="phone", value="+8613812345678")]
    assert row.warnings[0].code == "no_external_id"


PHONE_FORMATS = [
    "+86 138 1234 5678",
    "138-1234-5678",
    "8613812345678",
    "(+86) 13812345678",
    " 13812345678 ",
    "+8613812345678",
    "0086 138 1234 5678",
]


def test_one_phone_in_every_format_is_one_person():
    [person] = people_of(
        customers_csv(*(f"L{i},张伟,{phone},,,,,,,,," for i, phone in enumerate(PHONE_FORMATS)))
    )
    assert person.phone == "+8613812345678"
    assert person.external_ids == [f"L{i}" for i in range(len(PHONE_FORMATS))]


def test_clusters_are_transitive_over_phones_unionids_and_external_ids():
    people = people_of(
        customers_csv(
            "A,张伟,13812345678,,,,,,,a,2024-03-01,",
            "B,张伟,138 1234 5678,,,,,,oU1,b,2024-02-01,",  # phone of A, unionid of C
            "C,张伟,,,,,,,oU1,c,2024-01-01,",
            "D,张伟,13912345678,,,,,,,d,,",
            "D,张伟,13712345678,,,,,,,e,,",  # the same legacy record exported twice
            "E,张伟,13612345678,,,,,,,,,",
        )
    )
    assert [p.external_ids for p in people] == [["A", "B", "C"], ["D"], ["E"]]
    first = people[0]
    assert first.tags == ["c", "b", "a"]  # earliest first_seen first
    assert first.first_seen == date(2024, 1, 1)
    assert people[1].phone == "+8613712345678" and people[1].extra_phones == ["+8613912345678"]


def test_different_unionids_sharing_a_phone_are_one_person_with_both_unionids():
    [person] = people_of(
        customers_csv(
            "A,张伟,13812345678,,,,,,oU-a,,2024-01-01,",
            "B,张伟,+86 138 1234 5678,,,,,,oU-b,,2024-02-01,",
        )
    )
    assert person.unionid == "oU-a"
    assert [i.value for i in person.identities if i.type == "unionid"] == ["oU-a", "oU-b"]
    assert person.history["unionid"] == ["oU-a", "oU-b"]
    assert person.unionid_conflict


def test_conflicting_scalars_keep_the_earliest_and_lose_nothing():
    [person] = people_of(
        customers_csv(
            "B,张伟,13812345678,女,,上海,上海,SH-1,,,2024-02-01,新",
            "A,张伟,13812345678,男,1990-01-01,浙江,杭州,,,,2023-01-01,",
        )
    )
    assert (person.gender, person.region, person.store, person.birthday, person.note) == (
        Gender.MALE,
        "浙江",
        "SH-1",  # the earlier row has none: filled from the other
        date(1990, 1, 1),
        "新",
    )
    assert person.history == {
        "gender": ["male", "female"],
        "region": ["浙江", "上海"],
        "city": ["杭州", "上海"],
        "first_seen": ["2023-01-01", "2024-02-01"],
    }


CLUSTER_RECORDS = [
    "A,张伟,13812345678,,,,,,,x,2024-01-01,",
    "B,张伟先生,138-1234-5678,,,,,,oU1,y,2024-01-01,",
    "C,,,,,,,,oU1,z,,",
    "D,李娜,13912345678,F,,,,,,,2023-06-01,",
    "E,李娜,8613912345678,M,1990/1/2,,,,oU2,y,2023-06-01,",
    "F,王芳,13712345678,,,,,,,,,",
    "G,赵先生,,,,,,,oU3,,,",
    "H,赵强,13612345678,,,,,,oU3,,,",
    "BAD,钱,12345,,,,,,,,,",
]


@settings(max_examples=60, deadline=None)
@given(st.permutations(CLUSTER_RECORDS))
def test_any_record_order_gives_the_same_people(records):
    expected = projection(people_of(customers_csv(*CLUSTER_RECORDS)))
    assert projection(people_of(customers_csv(*records))) == expected
    assert len(expected) == 4


# -- the orders file ----------------------------------------------------------------------------------
def test_every_order_record_is_accepted_and_the_file_has_no_multi_record_orders(order_results):
    orders, issues = split(order_results)
    assert not issues
    assert len(orders) == 4000
    assert all(len(o.rows) == 1 and len(o.items) == 1 for o in orders)
    assert len({(o.platform, o.order_id) for o in orders}) == 4000
    assert summarize(order_results).model_dump() == {
        "accepted": 4000,
        "rejected": {},
        "warnings": {"no_buyer": 656},
    }


def test_orders_link_to_the_people_of_the_customers_file(order_results, people):
    orders, _ = split(order_results)
    index = index_people(people)
    linkable = [o for o in orders if o.linkable]
    assert len(linkable) == 3344
    linked = {o.order_id: link_order(o, index) for o in linkable}
    assert None not in linked.values()
    # when an order has both a phone and a unionid they are the same person's
    both = [o for o in linkable if o.buyer_phone and o.buyer_unionid]
    assert len(both) == 1339
    assert all(index[("phone", o.buyer_phone)] == index[("unionid", o.buyer_unionid)] for o in both)
    assert len(set(linked.values())) <= 2000
    unlinked = [o for o in orders if not o.linkable]
    assert len(unlinked) == 656
    for order in unlinked:
        assert link_order(order, index) is None
        [warning] = order.warnings
        assert warning.code == "no_buyer" and warning.reason.startswith("no buyer identity: not linked")
    assert sum(o.buyer_nick is not None for o in unlinked) == 329  # kept, but never an identity


def test_amounts_are_exact_decimals(order_results):
    orders, _ = split(order_results)
    header, *records = ORDERS_TEXT.splitlines()
    columns = header.split(",")
    raw_totals = [Decimal(r.split(",")[columns.index("total_amount")]) for r in records]
    assert sum(o.total_amount for o in orders) == sum(raw_totals)
    for order in orders:
        assert isinstance(order.total_amount, Decimal) and order.total_amount.as_tuple().exponent == -2
        [item] = order.items
        assert isinstance(item.unit_price, Decimal)
        assert item.unit_price * item.quantity == order.total_amount
    first = orders[0]
    assert (first.order_id, first.total_amount, first.items[0].unit_price) == (
        "O230000000",
        Decimal("328.50"),
        Decimal("328.50"),
    )


def test_statuses_of_the_file_are_all_mapped(order_results):
    orders, _ = split(order_results)
    assert Counter(o.status for o in orders) == {
        OrderStatus.COMPLETED: 2631,
        OrderStatus.CLOSED: 476,
        OrderStatus.PAID: 448,
        OrderStatus.REFUNDED: 445,
    }


def test_order_events_are_stable_for_a_reimport(order_results):
    orders, _ = split(order_results)
    events = [o.to_order_event() for o in orders]
    assert len({e.dedupe_key for e in events}) == 4000
    again = [o.to_order_event() for o in parse_orders(ORDERS_TEXT) if isinstance(o, OrderRow)]
    assert [e.model_dump() for e in again] == [e.model_dump() for e in events]
    event = events[0]
    assert event.dedupe_key == "import:tmall:O230000000:completed"
    assert event.raw_type == "legacy_import" and event.shop_id == "XA-001"
    assert event.occurred_at == event.paid_at == datetime(2025, 3, 18, 17, 2, tzinfo=UTC)
    assert event.buyer == [
        Identity(type="phone", value="+8613929763404"),
        Identity(type="unionid", value="oU099b236d62dd4a706524"),
    ]
    assert event.extra == {"store": "XA-001", "buyer_nick": "史浩的店铺账号", "source": "legacy_import"}
    dumped = event.model_dump(mode="json")
    assert dumped["total_amount"] == "328.50" and dumped["items"][0]["unit_price"] == "328.50"
    assert all(o.paid_at is not None and o.paid_at.utcoffset() == timedelta(hours=8) for o in orders)


# -- orders: small cases ------------------------------------------------------------------------------
def test_records_of_one_order_are_combined():
    results = list(
        parse_orders(
            orders_csv(
                "jd,O1,13812345678,,,TEA-L,大杯奶茶,2,18.00,36.00,paid,2024-08-21T01:03:00+08:00,SH-002",
                "jd,O2,,oU1,,MILK-3,奶粉,1,328.5,328.50,completed,2024-08-21 09:00:00,SH-002",
                "jd,O1,138-1234-5678,,,MILK-3,奶粉,1,328.50,328.50,completed,2024-08-21T01:03:00+08:00,SH-002",
                "jd,O1,13812345678,,,TEA-L,大杯奶茶,2,18.00,36.00,paid,2024-08-21T01:03:00+08:00,SH-002",
                "tmall,O1,,,nick,TEA-L,大杯奶茶,1,18.00,18.00,closed,,SH-002",
            )
        )
    )
    first, second, third = results
    assert isinstance(first, OrderRow) and first.rows == [1, 3]
    assert [(i.sku, i.quantity) for i in first.items] == [("TEA-L", 2), ("MILK-3", 1)]
    assert first.total_amount == Decimal("364.50")
    assert first.status is OrderStatus.COMPLETED  # the furthest status
    assert sorted(w.code for w in first.warnings) == ["conflict", "duplicate_row"]
    assert isinstance(second, OrderRow) and second.paid_at == datetime(2024, 8, 21, 1, 0, tzinfo=UTC)
    assert [w.code for w in second.warnings] == ["naive_paid_at"]
    assert isinstance(third, OrderRow) and third.platform == "tmall" and not third.linkable
    assert third.to_order_event().occurred_at == UNDATED
    assert [w.code for w in third.warnings] == ["no_buyer"]


def test_an_order_total_repeated_on_every_record_counts_once():
    [order] = parse_orders(
        orders_csv(
            "jd,O1,13812345678,,,A,a,2,10.00,30.00,paid,2024-08-21T01:03:00+08:00,S",
            "jd,O1,13812345678,,,B,b,1,10.00,30.00,paid,2024-08-21T01:03:00+08:00,S",
        )
    )
    assert isinstance(order, OrderRow) and order.total_amount == Decimal("30.00") and not order.warnings


def test_a_total_that_is_not_quantity_times_price_is_kept_with_a_warning():
    [order] = parse_orders(
        orders_csv("jd,O1,13812345678,,,A,a,2,10.00,18.00,paid,2024-08-21T01:03:00+08:00,S")
    )
    assert isinstance(order, OrderRow) and order.total_amount == Decimal("18.00")
    assert [w.code for w in order.warnings] == ["total_mismatch"]


def test_a_rejected_record_rejects_its_whole_order():
    results = list(
        parse_orders(
            orders_csv(
                "jd,O1,13812345678,,,A,a,2,10.00,20.00,paid,2024-08-21T01:03:00+08:00,S",
                "jd,O1,13812345678,,,B,b,1.5,10.00,15.00,paid,2024-08-21T01:03:00+08:00,S",
                "jd,O2,13812345678,,,B,b,1,1e400x,,paid,2024-08-21T01:03:00+08:00,S",
                "jd,O3,13812345678,,,B,b,1,10.00,10.00,lost,2024-08-21T01:03:00+08:00,S",
                "jd,,13812345678,,,B,b,1,10.00,10.00,paid,2024-08-21T01:03:00+08:00,S",
                "JD,O4,13812345678,,,B,b,1,10.00,10.00,已完成,2024/08/21 01:03,S",
            )
        )
    )
    assert [(r.row, r.code) for r in results if isinstance(r, ImportIssue)] == [
        (1, "order_incomplete"),
        (2, "invalid_quantity"),
        (3, "invalid_unit_price"),
        (4, "invalid_status"),
        (5, "no_order_key"),
    ]
    last = results[-1]
    assert isinstance(last, OrderRow) and (last.platform, last.status) == ("jd", OrderStatus.COMPLETED)
    [status_issue] = [r for r in results if isinstance(r, ImportIssue) and r.code == "invalid_status"]
    assert "'lost' is not an order status" in status_issue.reason


def test_floats_never_enter_amounts():
    [order] = parse_orders(orders_csv("jd,O1,13812345678,,,A,a,3,0.10,0.30,paid,2024-08-21T01:03:00+08:00,S"))
    assert isinstance(order, OrderRow)
    assert order.total_amount == Decimal("0.30") and order.items[0].unit_price * 3 == Decimal("0.30")


@pytest.mark.parametrize(
    ("quantity", "unit_price", "code"),
    [
        ("2", "1e30", "invalid_unit_price"),  # would overflow the fen: a clear issue, not a crash
        ("2", "-1.00", "invalid_unit_price"),
        ("2", "1,5", "invalid_unit_price"),
        ("2000000", "1.00", "invalid_quantity"),
        ("-1", "1.00", "invalid_quantity"),
        ("two", "1.00", "invalid_quantity"),
    ],
)
def test_numbers_that_are_not_amounts_or_quantities_reject_the_record(quantity, unit_price, code):
    text = orders_csv(f'jd,O1,13812345678,,,A,a,{quantity},"{unit_price}",,paid,2024-08-21T01:03:00+08:00,S')
    [issue] = parse_orders(text)
    assert isinstance(issue, ImportIssue) and issue.code == code and issue.row == 1


def test_blank_lines_before_the_header_and_a_bad_unionid_next_to_a_phone():
    text = "\n\n" + customers_csv("A1,张伟,13812345678,,,,,,oU 1,,,")
    [row] = parse_customers(text)
    assert isinstance(row, CustomerRow) and row.row == 1 and row.unionid is None
    assert [w.code for w in row.warnings] == ["invalid_unionid"]


def test_decode_export_reads_utf8_with_bom_and_gb18030():
    text = customers_csv("A1,张伟,13812345678,男,,,,,,,,")
    assert decode_export(("\ufeff" + text).encode("utf-8")) == text
    assert decode_export(text.encode("gb18030")) == text
    [row] = parse_customers(decode_export(text.encode("gb18030")))
    assert isinstance(row, CustomerRow) and row.name == "张伟"
