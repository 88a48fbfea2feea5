"""The price book (rule and modifier versions, immutable) and issued quotes in the single table."""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.exceptions import PutError

from chalicelib.domain.billing import RegionCoefficient
from chalicelib.domain.common import ConflictError
from chalicelib.domain.price_book import IssuedQuote
from chalicelib.domain.pricing import Modifier, PriceRule
from chalicelib.services.ports import Page
from chalicelib.store import keys
from chalicelib.store.cursor import CursorCodec
from chalicelib.store.table import IssuedQuoteItem, Item, PriceModifierItem, PriceRuleItem


def _put_new(item: Item, what: str) -> None:
    try:
        item.save(condition=Item.pk.does_not_exist())
    except PutError as e:
        if e.cause_response_code == "ConditionalCheckFailedException":
            raise ConflictError(f"{what} exists already (published meanwhile?): reload and retry") from e
        raise


class DynamoPriceBook:
    def __init__(self, *, cursors: CursorCodec) -> None:
        self._cursors = cursors

    # -- price rules: one partition per item ------------------------------------------------------
    def add_rule(self, tenant_id: str, rule: PriceRule) -> None:
        """A new version, never an overwrite (conditional put)."""
        sk = keys.price_rule_sk(rule.rule_id, rule.version)
        item = PriceRuleItem(
            keys.price_rules_pk(tenant_id, rule.item),
            sk,
            doc=rule.model_dump_json(exclude_defaults=True),
            gsi1pk=keys.price_book_pk(tenant_id),
            gsi1sk=f"{rule.item}#{sk}",
        )
        _put_new(item, f"version {rule.version} of price rule {rule.rule_id}")

    def rules_for(self, tenant_id: str, items: Iterable[str]) -> list[PriceRule]:
        """Every version of every rule pricing these items: one Query per distinct item."""
        return [
            PriceRule.model_validate_json(i.doc or "")
            for item in sorted(set(items))
            for i in PriceRuleItem.query(keys.price_rules_pk(tenant_id, item))
        ]

    def list_rules(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[PriceRule]:
        results = Item.gsi1.query(
            keys.price_book_pk(tenant_id),
            limit=limit,
            page_size=limit,
            last_evaluated_key=self._cursors.decode(tenant_id, cursor),
        )
        rules = [PriceRule.model_validate_json(i.doc or "") for i in results]
        return Page(rules, self._cursors.encode(tenant_id, results.last_evaluated_key))

    # -- modifiers: one partition per tenant ----------------------------------------------------------
    def add_modifier(self, tenant_id: str, modifier: Modifier) -> None:
        item = PriceModifierItem(
            keys.price_book_pk(tenant_id),
            keys.modifier_sk(modifier.modifier_id, modifier.version),
            doc=modifier.model_dump_json(exclude_defaults=True),
        )
        _put_new(item, f"version {modifier.version} of modifier {modifier.modifier_id}")

    def modifiers(self, tenant_id: str) -> list[Modifier]:
        """Every version of every modifier (one Query; a tenant has tens to hundreds)."""
        return [
            Modifier.model_validate_json(i.doc or "")
            for i in PriceModifierItem.query(
                keys.price_book_pk(tenant_id), PriceModifierItem.sk.startswith("M#")
            )
        ]

    # -- region depreciation coefficients (parts), in the modifiers' partition ----------------------
    def add_coefficient(self, tenant_id: str, coefficient: RegionCoefficient) -> None:
        item = PriceModifierItem(
            keys.price_book_pk(tenant_id),
            f"D#{coefficient.coefficient_id}#V#{coefficient.version:06d}",
            doc=coefficient.model_dump_json(exclude_defaults=True),
        )
        _put_new(item, f"version {coefficient.version} of coefficient {coefficient.coefficient_id}")

    def coefficients(self, tenant_id: str) -> list[RegionCoefficient]:
        return [
            RegionCoefficient.model_validate_json(i.doc or "")
            for i in PriceModifierItem.query(
                keys.price_book_pk(tenant_id), PriceModifierItem.sk.startswith("D#")
            )
        ]

    # -- issued quotes ----------------------------------------------------------------------------
    def add_quote(self, issued: IssuedQuote) -> None:
        item = IssuedQuoteItem(
            keys.quote_pk(issued.tenant_id, issued.id),
            keys.QUOTE_SK,
            doc=issued.model_dump_json(exclude_defaults=True),
        )
        if issued.customer_id:
            item.gsi1pk = keys.customer_quotes_pk(issued.tenant_id, issued.customer_id)
            item.gsi1sk = f"{issued.created_at.isoformat(timespec='milliseconds')}#{issued.id}"
        _put_new(item, f"quote {issued.id}")

    def quote(self, tenant_id: str, quote_id: str) -> IssuedQuote | None:
        try:
            item = IssuedQuoteItem.get(keys.quote_pk(tenant_id, quote_id), keys.QUOTE_SK)
        except IssuedQuoteItem.DoesNotExist:
            return None
        return IssuedQuote.model_validate_json(item.doc or "")
