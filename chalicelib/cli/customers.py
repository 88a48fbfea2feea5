"""`scrm customers`: review and apply merges of customers who are one person, and undo them."""

from __future__ import annotations

from typing import Annotated

import typer

from chalicelib.cli._common import connect, emit, operator

customers = typer.Typer(name="customers", help="Customer merges.", no_args_is_help=True)
GROUPS = (customers,)

Tenant = Annotated[str, typer.Option("--tenant", help="The tenant id (ten_…).")]
Survivor = Annotated[str, typer.Argument(help="The customer who stays (keeps its id).")]
Absorbed = Annotated[str, typer.Argument(help="The customer merged into it (its id redirects).")]


@customers.command("merge-candidates")
def merge_candidates(
    tenant_id: Tenant,
    limit: Annotated[int, typer.Option(min=1, help="Pairs per page.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The next_cursor of the previous page.")] = None,
) -> None:
    """Customer pairs to review for a merge."""
    c = connect()
    page = c.merges.candidates(principal=operator(c, tenant_id), limit=limit, cursor=cursor)
    emit({"items": page.items, "next_cursor": page.next_cursor})


@customers.command("merge")
def merge(
    survivor: Survivor,
    absorbed: Absorbed,
    tenant_id: Tenant,
    preview: Annotated[bool, typer.Option("--preview", help="Show the result, change nothing.")] = False,
) -> None:
    """Merge ABSORBED into SURVIVOR (the survivor keeps its id; old ids redirect)."""
    c = connect()
    outcome = c.merges.merge(
        principal=operator(c, tenant_id), survivor_id=survivor, absorbed_id=absorbed, preview=preview
    )
    emit(
        {
            "applied": outcome.applied,
            "survivor": outcome.survivor.model_dump(mode="json"),
            "record": outcome.record,
        }
    )


@customers.command("unmerge")
def unmerge(survivor: Survivor, absorbed: Absorbed, tenant_id: Tenant) -> None:
    """Undo the merge of ABSORBED into SURVIVOR."""
    c = connect()
    kept, restored = c.merges.unmerge(
        principal=operator(c, tenant_id), survivor_id=survivor, absorbed_id=absorbed
    )
    emit({"survivor": kept.model_dump(mode="json"), "restored": restored.model_dump(mode="json")})
