from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.common import ConflictError, InvalidInputError
from chalicelib.domain.tags import TagCatalogue, new_tag_group

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_catalogue_resolves_ids_and_unique_names():
    a = new_tag_group(tenant_id="t", name="等级", tag_names=["VIP", "普通"], now=NOW)
    b = new_tag_group(tenant_id="t", name="渠道", tag_names=["门店", "VIP"], now=NOW)
    cat = TagCatalogue(groups=[a, b])
    assert cat.resolve([a.tags[1].id, "门店"]) == {a.tags[1].id: "普通", b.tags[0].id: "门店"}
    with pytest.raises(InvalidInputError) as e:
        cat.resolve(["VIP", "nope"])
    assert [d["message"] for d in e.value.details] == [
        "tag name 'VIP' is in several groups: use its id",
        "unknown tag 'nope'",
    ]


def test_group_rejects_duplicate_names_and_renames_safely():
    g = new_tag_group(tenant_id="t", name="口味", tag_names=["火锅", "川菜"], now=NOW)
    with pytest.raises(ConflictError):
        g.add_tags(["火锅"])
    with pytest.raises(ConflictError):
        g.rename_tag(g.tags[0].id, "川菜")
    g.rename_tag(g.tags[0].id, "重庆火锅")
    assert [t.name for t in g.tags] == ["重庆火锅", "川菜"]
