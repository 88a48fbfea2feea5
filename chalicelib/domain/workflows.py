"""Work-order workflows (工单流程自定义器): tenant-designed definitions, checked on publish, run as steps.

A `WorkflowDefinition` is data (JSON, edited in the designer, stored per version). `validate` lists every
problem of a draft and `publish` refuses one with problems. `start` / `apply` move a ticket through a
definition and `allowed_actions` says what a user may do next. Nothing here keeps history or reads a clock:
the ticket stores the returned `WorkflowState` and its own history, and passes `at` in. Pass published
definitions; a version change of a running ticket (version pinning) is the caller's business.

Semantics, in one place:
- Who acts: a node's `actor` (None: anyone who may open the ticket). Every attribute an `Actor` sets must
  equal the performer's, the scope *exactly* (a regional manager is not a store manager). An admin acts
  anywhere, approvals included, where an admin counts as one approver. Timers and other system-initiated
  moves act as an admin performer.
- Guarded transitions: transitions sharing an action from a node are tried in definition order and the first
  whose guard holds fires; a transition after an unguarded one with the same action can never fire and is a
  validation error.
- Automatic transitions: the actions `auto` and `joined` are never requested by a user. Entering a node whose
  transitions are automatic leaves it at once through the first whose guard holds (start → first step,
  join → next step; a node cannot mix automatic and manual transitions).
- Parallel: entering a `parallel` node activates the first node of every branch at once (the fork itself is
  left immediately). A branch ends by transitioning into the fork's `join`; the join is entered only when
  every branch has arrived (until then `WorkflowState.arrived` records which have). Branches may not share
  nodes, leave the block other than through the join, or end the workflow; blocks may nest.
- Approvals: the approver rules whose `when` holds are collected and only those of the highest level count
  (an escalation threshold: a higher level replaces the lower one, it is not added to it). `any` / `single`
  need one approval, `all` one per rule by distinct users. One rejection leaves along the `reject` transition.
  Votes are per level: if the fields change so that another level applies, earlier votes no longer count.
- End nodes stay active, so a transition out of one (reopen) still works; `done` means only end nodes are
  active.
- Guards: see `parse_guard`. A missing (or unreadable) field value makes every comparison involving it false,
  `!=` included, so `not (x == 1)` is true when x is missing.
"""

from __future__ import annotations

import ast
import keyword
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.access import Principal, Role, ScopeKind
from chalicelib.domain.common import ConflictError, ForbiddenError, InvalidInputError

AUTO_ACTIONS = frozenset({"auto", "joined"})
APPROVE = "approve"
REJECT = "reject"
MAX_GUARD_LENGTH = 500
# Entries per step: a definition that loops through automatic transitions stops here instead of hanging.
_MAX_ENTRIES = 200
_SLUG = re.compile(r"[a-z][a-z0-9_]{0,62}")


class FieldKind(StrEnum):
    NUMBER = "number"
    MONEY = "money"
    TEXT = "text"
    ENUM = "enum"
    BOOL = "bool"
    DATE = "date"


# Fields every ticket has, so guards may use them without declaring them.
BUILTIN_FIELDS: dict[str, FieldKind] = {"priority": FieldKind.ENUM, "cross_region": FieldKind.BOOL}


class NodeKind(StrEnum):
    START = "start"
    TASK = "task"
    APPROVAL = "approval"
    PARALLEL = "parallel"
    JOIN = "join"
    END = "end"


class NodeActionType(StrEnum):
    NOTIFY = "notify"
    ASSIGN = "assign"
    RESERVE_PARTS = "reserve_parts"
    START_TIMER = "start_timer"
    RELEASE_PARTS = "release_parts"


class ApprovalMode(StrEnum):
    SINGLE = "single"  # one approver per level (validated), one approval needed
    ANY = "any"  # any one of the level's approvers
    ALL = "all"  # every rule of the level, by distinct users


class Performer(BaseModel):
    """Who performs an action: the identity attributes actors are matched against."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    role: Role
    scope_kind: ScopeKind
    department: str | None = None

    @classmethod
    def of(cls, principal: Principal, department: str | None = None) -> Performer:
        return cls(
            user_id=principal.user_id,
            role=principal.role,
            scope_kind=principal.scope.kind,
            department=department if department is not None else principal.department,
        )


class Actor(BaseModel):
    """Who may act: every attribute set must match (scope is the level: store, region…); none set: anyone."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    scope: ScopeKind | None = None
    department: str | None = None

    def matches(self, who: Performer) -> bool:
        if who.role is Role.ADMIN:  # admins may act anywhere (and unblock any ticket)
            return True
        return (
            (self.role is None or self.role == who.role)
            and (self.scope is None or self.scope == who.scope_kind)
            and (self.department is None or self.department == who.department)
        )

    def describe(self) -> str:
        """E.g. "region manager", "finance", "anyone in warehouse"."""
        text = " ".join(p for p in (self.scope, self.role) if p) or "anyone"
        return f"{text} in {self.department}" if self.department else text


class NodeAction(BaseModel):
    """A side effect of entering a node, carried out by the caller (the engine only reports it).

    Conventional params: notify {to: customer|assignee|approvers|role:<r>|department:<d>, template, text};
    assign {role, department, strategy}; start_timer {name, minutes|hours, action} (when it fires, the caller
    applies `action` as an admin performer); reserve_parts / release_parts {source: <field>}."""

    model_config = ConfigDict(extra="forbid")

    type: NodeActionType
    params: dict[str, Any] = Field(default_factory=dict)


class ApproverRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    when: str | None = None  # a guard; None: always applies
    actor: Actor
    level: int = Field(default=1, ge=1)


class ApprovalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: ApprovalMode = ApprovalMode.ANY
    approvers: list[ApproverRule] = Field(default_factory=list)


class Node(BaseModel):
    # Ids, kinds' needs and references are checked by `validate`, not here: a draft with mistakes must still
    # load in the designer.
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    kind: NodeKind
    actor: Actor | None = None  # approval nodes: who takes actions other than approve / reject
    on_enter: list[NodeAction] = Field(default_factory=list)
    approval: ApprovalSpec | None = None  # approval nodes only
    branches: list[str] = Field(default_factory=list)  # parallel nodes: the first node of each branch
    join: str | None = None  # parallel nodes: the join closing the block; inferred (and filled by publish)
    ui: dict[str, Any] = Field(default_factory=dict)  # the designer's own data (position, colour…)


class Transition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_node: str
    action: str
    to_node: str
    guard: str | None = None
    label: str = ""


class WorkflowDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    version: int = Field(default=1, ge=1)
    description: str = ""
    fields: dict[str, FieldKind] = Field(default_factory=dict)
    nodes: list[Node] = Field(default_factory=list)
    transitions: list[Transition] = Field(default_factory=list)

    def field_kinds(self) -> dict[str, FieldKind]:
        return {**BUILTIN_FIELDS, **self.fields}


class Issue(BaseModel):
    field: str  # e.g. "nodes[3].id", "transitions[2].guard", "nodes" for the definition as a whole
    message: str


class Vote(BaseModel):
    user_id: str
    level: int
    approve: bool
    at: datetime
    comment: str | None = None
    rules: list[int] = Field(default_factory=list)  # the approver rules (indexes) the voter matched


class WorkflowState(BaseModel):
    active: list[str] = Field(default_factory=list)
    arrived: dict[str, list[str]] = Field(default_factory=dict)  # join id → branches (first nodes) arrived
    votes: dict[str, list[Vote]] = Field(default_factory=dict)  # approval node id → votes while it is active


class Effect(BaseModel):
    """An `on_enter` action of a node entered during a step, for the caller to carry out."""

    node: str
    type: NodeActionType
    params: dict[str, Any] = Field(default_factory=dict)


class Step(BaseModel):
    state: WorkflowState
    entered: list[str] = Field(default_factory=list)
    exited: list[str] = Field(default_factory=list)
    effects: list[Effect] = Field(default_factory=list)
    done: bool = False


class AllowedAction(BaseModel):
    node: str
    action: str
    to_node: str
    label: str


# --- guards ----------------------------------------------------------------------------------------------

Value = Decimal | str | bool  # what a field value or constant is compared as
_Values = Mapping[str, Value | None]
_Pred = Callable[[_Values], bool]
_Term = Callable[[_Values], Value | None]


class GuardError(ValueError):
    pass


@dataclass(frozen=True)
class Guard:
    """A parsed condition. `names` are the fields it reads; `typed` pairs a field with the kind of constant it
    is compared with ("number", "text" or "bool"), for validation against the declared field kinds."""

    text: str
    names: frozenset[str]
    typed: tuple[tuple[str, str], ...]
    _pred: _Pred = field(repr=False)

    def holds(self, values: _Values) -> bool:
        return self._pred(values)


_OPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}

_REFUSED: dict[type[ast.AST], str] = {
    ast.Call: "function calls are not allowed",
    ast.Attribute: "attribute access (a.b) is not allowed",
    ast.Subscript: "indexing (a[b]) is not allowed",
    ast.BinOp: "arithmetic is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.IfExp: "conditional expressions are not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
}


def _kind_of(value: Value) -> str:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, Decimal) else "text"


class _Compiler:
    """Turns a whitelisted Python expression into closures; anything not explicitly handled is refused."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.names: set[str] = set()
        self.typed: list[tuple[str, str]] = []

    def error(self, node: ast.AST, message: str) -> GuardError:
        column = getattr(node, "col_offset", 0) + 1
        return GuardError(f"{message} (at column {column})")

    def refuse(self, node: ast.AST, expected: str) -> GuardError:
        reason = _REFUSED.get(type(node))
        if reason is None and isinstance(node, ast.Constant) and node.value is None:
            reason = "None is not supported: a missing field already makes comparisons false"
        return self.error(node, reason or f"{type(node).__name__} is not allowed here: expected {expected}")

    def pred(self, node: ast.expr) -> _Pred:
        if isinstance(node, ast.BoolOp):
            parts = [self.pred(v) for v in node.values]
            if isinstance(node.op, ast.And):
                return lambda v: all(p(v) for p in parts)
            return lambda v: any(p(v) for p in parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.pred(node.operand)
            return lambda v: not inner(v)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Name):  # a yes/no field on its own
            name = self.name(node)
            self.typed.append((name, "bool"))
            return lambda v: v.get(name) is True
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            constant: bool = node.value
            return lambda v: constant
        raise self.refuse(node, "a condition (a comparison, and / or / not, or a yes/no field)")

    def name(self, node: ast.Name) -> str:
        self.names.add(node.id)
        return node.id

    def constant(self, node: ast.expr) -> Value:
        negative = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
        inner = node.operand if isinstance(node, ast.UnaryOp) and negative else node
        if not isinstance(inner, ast.Constant):
            raise self.refuse(node, "a field name, a number, a string, True or False")
        value = inner.value
        if isinstance(value, bool | str) and not negative:
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            # From the source text, never through float: "0.1" and "500.00" stay exact.
            source = ast.get_source_segment(self.text, inner) or ""
            try:
                number = Decimal(source)
            except InvalidOperation:
                raise self.error(inner, f"'{source}' is not a decimal number") from None
            if not number.is_finite():
                raise self.error(inner, f"'{source}' is not a finite number")
            return -number if negative else number
        raise self.refuse(node, "a field name, a number, a string, True or False")

    def term(self, node: ast.expr) -> tuple[_Term, str | None, str | None]:
        """A compiled operand, with the kind of constant it is (or None) and the field it reads (or None)."""
        if isinstance(node, ast.Name):
            name = self.name(node)
            return (lambda v: v.get(name)), None, name
        if isinstance(node, ast.List | ast.Tuple):
            raise self.error(node, "a list goes only on the right of 'in' / 'not in'")
        constant = self.constant(node)
        return (lambda v: constant), _kind_of(constant), None

    def seq(self, node: ast.expr) -> tuple[tuple[Value, ...], str | None]:
        if not isinstance(node, ast.List | ast.Tuple):
            raise self.error(node, "'in' / 'not in' take a list of constants, e.g. x in [\"a\", \"b\"]")
        items = tuple(self.constant(e) for e in node.elts)
        kinds = {_kind_of(i) for i in items}
        if len(kinds) > 1:
            raise self.error(node, "a list mixes numbers, text and yes/no values")
        return items, next(iter(kinds), None)

    def compare(self, node: ast.Compare) -> _Pred:
        checks: list[_Pred] = []
        left = node.left
        for op_node, right in zip(node.ops, node.comparators, strict=True):
            op = _OPS.get(type(op_node))
            if op is None:
                raise self.error(node, "'is' / 'is not' are not allowed: use == / !=")
            lterm, lkind, lname = self.term(left)
            if op in ("in", "not in"):
                items, rkind = self.seq(right)
                checks.append(_membership(lterm, items, negate=op == "not in"))
                rname = None
            else:
                rterm, rkind, rname = self.term(right)
                checks.append(_comparison(op, lterm, rterm))
            if lname and rkind:
                self.typed.append((lname, rkind))
            if rname and lkind:
                self.typed.append((rname, lkind))
            left = right
        return lambda v: all(c(v) for c in checks)


def _same(a: Value, b: Value) -> bool:
    # Strict by type: True must not equal 1, nor "1" equal 1.
    return type(a) is type(b) and a == b


def _membership(term: _Term, items: tuple[Value, ...], *, negate: bool) -> _Pred:
    def check(v: _Values) -> bool:
        value = term(v)
        if value is None:
            return False
        return any(_same(value, i) for i in items) != negate

    return check


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _ordered(op: str, a: Value, b: Value) -> bool:
    # Numbers with numbers; text with text (ISO dates order correctly as text); yes/no values do not order.
    if isinstance(a, bool) or isinstance(b, bool) or type(a) is not type(b):
        return False
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        x: Decimal | str = a
        y: Decimal | str = b
    elif isinstance(a, str) and isinstance(b, str):
        x, y = a, b
    else:
        return False
    return _ORDER[op](x, y)


def _comparison(op: str, left: _Term, right: _Term) -> _Pred:
    def check(v: _Values) -> bool:
        a, b = left(v), right(v)
        if a is None or b is None:
            return False
        if op == "==":
            return _same(a, b)
        if op == "!=":
            return not _same(a, b)
        return _ordered(op, a, b)

    return check


@lru_cache(maxsize=1024)
def parse_guard(text: str) -> Guard:
    """Parse a condition such as `compensation > 500 or cross_region`, `priority == "urgent"`,
    `reason in ["质量问题", "发错货"]` or `0 < amount <= 500`.

    Allowed: and / or / not, comparisons (== != < <= > >= in, not in, chained), field names, numbers (exact
    decimals), strings, True / False and lists of constants after in / not in. Everything else (calls,
    attributes, indexing, arithmetic, …) raises GuardError saying what and where."""
    if len(text) > MAX_GUARD_LENGTH:
        raise GuardError(f"a condition is at most {MAX_GUARD_LENGTH} characters")
    if not text.strip():
        raise GuardError("a condition is empty (leave it out instead)")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise GuardError(f"syntax error at column {e.offset or 0}: {e.msg}") from None
    compiler = _Compiler(text.strip())
    pred = compiler.pred(tree.body)
    return Guard(text, frozenset(compiler.names), tuple(dict.fromkeys(compiler.typed)), pred)


def coerce_value(kind: FieldKind | None, value: object) -> Value | None:
    """A ticket field value as guards compare it, per its declared kind; None when missing or unreadable.

    Numbers and money become Decimal (from int, Decimal or a decimal string; a float through its shortest
    repr, so 0.1 stays 0.1); dates become ISO text; yes/no accepts "true" / "false"."""
    if value is None or isinstance(value, list | dict):
        return None
    if kind in (FieldKind.NUMBER, FieldKind.MONEY):
        return _number(value)
    if kind is FieldKind.BOOL:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower() if isinstance(value, str) else None
        return {"true": True, "false": False}.get(text) if text else None
    if kind is FieldKind.DATE:
        return value.isoformat() if isinstance(value, date) else value if isinstance(value, str) else None
    if kind in (FieldKind.TEXT, FieldKind.ENUM):
        return str(value) if isinstance(value, str) else None
    if isinstance(value, bool | str):  # undeclared: taken as it comes
        return str(value) if isinstance(value, str) else value
    if isinstance(value, date):
        return value.isoformat()
    return _number(value)


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int | str):
            number = Decimal(str(value).strip())
        elif isinstance(value, float):
            number = Decimal(repr(value))
        else:
            return None
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def coerce_fields(defn: WorkflowDefinition, fields: Mapping[str, object]) -> dict[str, Value | None]:
    kinds = defn.field_kinds()
    return {name: coerce_value(kinds.get(name), value) for name, value in fields.items()}


def evaluate_guard(
    expression: str | None, fields: Mapping[str, object], kinds: Mapping[str, FieldKind] | None = None
) -> bool:
    """Whether a condition holds for raw ticket field values (None: always)."""
    if expression is None:
        return True
    known = {**BUILTIN_FIELDS, **(kinds or {})}
    return parse_guard(expression).holds({k: coerce_value(known.get(k), v) for k, v in fields.items()})


# --- the graph -------------------------------------------------------------------------------------------


@dataclass
class _Graph:
    nodes: dict[str, Node]
    out: dict[str, list[Transition]]  # transitions between existing nodes, in definition order
    joins: dict[str, str] = field(default_factory=dict)  # parallel node → its join
    forks: dict[str, str] = field(default_factory=dict)  # join → its parallel node
    branch_of: dict[str, dict[str, str]] = field(default_factory=dict)  # join → node → branch (first node)

    def succ(self, node_id: str) -> list[str]:
        node = self.nodes[node_id]
        nexts = [t.to_node for t in self.out[node_id]]
        if node.kind is NodeKind.PARALLEL:
            nexts += [b for b in node.branches if b in self.nodes]
        return nexts

    def reach(self, first: str, stop: str | None = None) -> list[str]:
        """Nodes reachable from `first` (included) without passing through `stop`, in BFS order."""
        if first not in self.nodes or first == stop:
            return []
        seen = {first: None}
        queue = [first]
        while queue:
            for nxt in self.succ(queue.pop(0)):
                if nxt != stop and nxt not in seen:
                    seen[nxt] = None
                    queue.append(nxt)
        return list(seen)


def _infer_join(g: _Graph, fork: Node) -> str | None:
    """The nearest join every branch reaches: reached by all, with no other such join before it."""
    branches = [b for b in fork.branches if b in g.nodes]
    if not branches:
        return None
    reached = [set(g.reach(b)) for b in branches]
    common = [j for j, n in g.nodes.items() if n.kind is NodeKind.JOIN and all(j in r for r in reached)]
    for join in common:
        regions = [set(g.reach(b, stop=join)) for b in branches]
        if not any(other in region for other in common if other != join for region in regions):
            return join
    return None


def _graph(defn: WorkflowDefinition) -> _Graph:
    nodes: dict[str, Node] = {}
    for node in defn.nodes:
        nodes.setdefault(node.id, node)
    out: dict[str, list[Transition]] = {node_id: [] for node_id in nodes}
    for t in defn.transitions:
        if t.from_node in nodes and t.to_node in nodes:
            out[t.from_node].append(t)
    g = _Graph(nodes, out)
    for node in nodes.values():
        if node.kind is not NodeKind.PARALLEL:
            continue
        join = node.join or _infer_join(g, node)
        if join is None or join not in nodes or nodes[join].kind is not NodeKind.JOIN or join in g.forks:
            continue  # validate reports it
        g.joins[node.id], g.forks[join] = join, node.id
        regions = g.branch_of.setdefault(join, {})
        for branch in node.branches:
            for member in g.reach(branch, stop=join):
                regions.setdefault(member, branch)
    return g


# --- validation ------------------------------------------------------------------------------------------


_KIND_WORDS = {"number": "a number", "text": "text", "bool": "yes/no (True / False)"}


class _Checker:
    def __init__(self, defn: WorkflowDefinition) -> None:
        self.defn = defn
        self.g = _graph(defn)
        self.kinds = defn.field_kinds()
        self.issues: list[Issue] = []
        self.index = {n.id: i for i, n in reversed(list(enumerate(defn.nodes)))}  # first occurrence

    def add(self, where: str, message: str) -> None:
        self.issues.append(Issue(field=where, message=message))

    def at(self, node_id: str) -> str:
        return f"nodes[{self.index[node_id]}]"

    def run(self) -> list[Issue]:
        if not self.defn.id.strip():
            self.add("id", "a workflow needs an id")
        if not self.defn.name.strip():
            self.add("name", "a workflow needs a name")
        for name in self.defn.fields:
            if not name.isidentifier() or keyword.iskeyword(name):
                self.add(
                    f"fields.{name}", f"'{name}' cannot be used in conditions: use letters, digits and _"
                )
        self.nodes()
        self.transitions()
        for i, node in enumerate(self.defn.nodes):
            if node.kind is NodeKind.APPROVAL:
                self.approval(i, node)
            if node.kind is NodeKind.PARALLEL and self.index.get(node.id) == i:
                self.parallel(i, node)
            self.timers(i, node)
        self.joins()
        self.reachability()
        self.automatic_loops()
        return self.issues

    def guard(self, where: str, text: str) -> None:
        try:
            guard = parse_guard(text)
        except GuardError as e:
            self.add(where, str(e))
            return
        for name in sorted(guard.names - set(self.kinds)):
            known = ", ".join(sorted(self.kinds))
            self.add(where, f"unknown field '{name}' (declare it in fields; known: {known})")
        compatible = {"number": ("number", "money"), "text": ("text", "enum", "date"), "bool": ("bool",)}
        for name, kind in guard.typed:
            declared = self.kinds.get(name)
            if declared and declared not in compatible[kind]:
                self.add(where, f"'{name}' is declared {declared} but used with {_KIND_WORDS[kind]}")

    def nodes(self) -> None:
        starts = [i for i, n in enumerate(self.defn.nodes) if n.kind is NodeKind.START]
        if not starts:
            self.add("nodes", "no start node: a workflow needs exactly one")
        for i in starts[1:]:
            self.add(f"nodes[{i}].kind", f"a second start node (the first is nodes[{starts[0]}])")
        if not any(n.kind is NodeKind.END for n in self.defn.nodes):
            self.add("nodes", "no end node: a workflow needs at least one")
        for i, node in enumerate(self.defn.nodes):
            if not _SLUG.fullmatch(node.id):
                self.add(f"nodes[{i}].id", f"'{node.id}' is not a slug (lowercase letters, digits and _)")
            elif self.index[node.id] != i:
                self.add(
                    f"nodes[{i}].id", f"duplicate node id '{node.id}' (also nodes[{self.index[node.id]}])"
                )
            if not node.name.strip():
                self.add(f"nodes[{i}].name", "a node needs a name")
            if node.approval is not None and node.kind is not NodeKind.APPROVAL:
                self.add(f"nodes[{i}].approval", "only approval nodes have approvers")
            if (node.branches or node.join) and node.kind is not NodeKind.PARALLEL:
                self.add(f"nodes[{i}].branches", "only parallel nodes have branches and a join")

    def transitions(self) -> None:
        first_unguarded: dict[tuple[str, str], int] = {}
        for i, t in enumerate(self.defn.transitions):
            where = f"transitions[{i}]"
            for attr, ref in (("from_node", t.from_node), ("to_node", t.to_node)):
                if ref not in self.g.nodes:
                    self.add(f"{where}.{attr}", f"no node '{ref}'")
            if not _SLUG.fullmatch(t.action):
                self.add(f"{where}.action", f"'{t.action}' is not a slug (lowercase letters, digits and _)")
            if t.guard is not None:
                self.guard(f"{where}.guard", t.guard)
            # Automatic actions are one group: `auto` after an unguarded `joined` never fires either.
            key = (t.from_node, "auto" if t.action in AUTO_ACTIONS else t.action)
            if key in first_unguarded:
                self.add(
                    f"{where}.action",
                    f"never fires: transitions[{first_unguarded[key]}] ('{t.action}' from '{t.from_node}', "
                    "no guard) always wins",
                )
            elif t.guard is None:
                first_unguarded[key] = i
            source = self.g.nodes.get(t.from_node)
            if source is not None and source.kind is NodeKind.PARALLEL:
                self.add(f"{where}.from_node", "a parallel node leaves through its branches, not transitions")
        for node_id, outgoing in self.g.out.items():
            automatic = [t for t in outgoing if t.action in AUTO_ACTIONS]
            if automatic and len(automatic) < len(outgoing):
                self.add(f"{self.at(node_id)}", "mixes automatic (auto / joined) and manual transitions")
            elif automatic and all(t.guard is not None for t in automatic):
                self.add(f"{self.at(node_id)}", "automatic transitions need an unguarded one last (fallback)")

    def timers(self, i: int, node: Node) -> None:
        """A timer's action is applied when it fires: it must be one the node offers."""
        offered = {t.action for t in self.defn.transitions if t.from_node == node.id}
        for k, effect in enumerate(node.on_enter):
            action = effect.params.get("action")
            if effect.type is NodeActionType.START_TIMER and action is not None and action not in offered:
                self.add(
                    f"nodes[{i}].on_enter[{k}].params.action", f"'{node.id}' offers no '{action}' action"
                )

    def approval(self, i: int, node: Node) -> None:
        where = f"nodes[{i}].approval"
        spec = node.approval
        if spec is None or not spec.approvers:
            self.add(where, "an approval node needs approvers")
        else:
            for k, rule in enumerate(spec.approvers):
                if rule.when is not None:
                    self.guard(f"{where}.approvers[{k}].when", rule.when)
            levels = [r.level for r in spec.approvers]
            if spec.mode is ApprovalMode.SINGLE and len(set(levels)) < len(levels):
                self.add(f"{where}.mode", "'single' allows one approver rule per level: use 'any' or 'all'")
        actions = {t.action for t in self.defn.transitions if t.from_node == node.id}
        for needed in (APPROVE, REJECT):
            if needed not in actions:
                self.add(f"nodes[{i}]", f"an approval node needs a '{needed}' transition")

    def parallel(self, i: int, node: Node) -> None:
        where = f"nodes[{i}]"
        if len(node.branches) < 2:
            self.add(f"{where}.branches", "a parallel node needs at least two branches")
        for k, branch in enumerate(node.branches):
            target = self.g.nodes.get(branch)
            if target is None:
                self.add(f"{where}.branches[{k}]", f"no node '{branch}'")
            elif target.kind in (NodeKind.START, NodeKind.JOIN) or branch == node.id:
                self.add(
                    f"{where}.branches[{k}]", f"a branch cannot start at the {target.kind} node '{branch}'"
                )
        if len(set(node.branches)) < len(node.branches):
            self.add(f"{where}.branches", "a branch is listed twice")
        join = self.g.joins.get(node.id)
        if join is None:
            named = node.join
            if named is not None and (
                named not in self.g.nodes or self.g.nodes[named].kind is not NodeKind.JOIN
            ):
                self.add(f"{where}.join", f"'{named}' is not a join node")
            else:
                reached = "; ".join(
                    f"{b} → {self.joins_reached(b)}" for b in node.branches if b in self.g.nodes
                )
                self.add(
                    f"{where}.join", f"no join node that every branch reaches (joins reached: {reached})"
                )
            return
        self.regions(where, node, join)

    def joins_reached(self, first: str) -> str:
        return ", ".join(j for j in self.g.reach(first) if self.g.nodes[j].kind is NodeKind.JOIN) or "none"

    def regions(self, where: str, node: Node, join: str) -> None:
        """Branches stay apart, inside the block, and each reaches the join."""
        owner: dict[str, str] = {}
        for branch in dict.fromkeys(node.branches):
            region = self.g.reach(branch, stop=join)
            for member in region:
                if member in owner and owner[member] != branch:
                    self.add(
                        f"{where}.branches",
                        f"branches '{owner[member]}' and '{branch}' share node '{member}': "
                        "branches stay apart until the join",
                    )
                owner.setdefault(member, branch)
                if self.g.nodes[member].kind is NodeKind.END:
                    self.add(f"{where}.branches", f"branch '{branch}' ends the workflow at '{member}'")
            if region and not any(t.to_node == join for m in region for t in self.g.out[m]):
                self.add(f"{where}.branches", f"branch '{branch}' never reaches the join '{join}'")

    def joins(self) -> None:
        for node_id, node in self.g.nodes.items():
            if node.kind is NodeKind.JOIN and node_id not in self.g.forks:
                self.add(self.at(node_id), f"join '{node_id}' closes no parallel node")
        for i, t in enumerate(self.defn.transitions):
            members = self.g.branch_of.get(t.to_node)
            if members is not None and t.from_node in self.g.nodes and t.from_node not in members:
                self.add(
                    f"transitions[{i}].to_node", f"enters the join '{t.to_node}' from outside its branches"
                )

    def reachability(self) -> None:
        start = next((n.id for n in self.defn.nodes if n.kind is NodeKind.START), None)
        reachable = set(self.g.reach(start)) if start else set()
        back: dict[str, set[str]] = {node_id: set() for node_id in self.g.nodes}
        for node_id in self.g.nodes:
            for nxt in self.g.succ(node_id):
                back[nxt].add(node_id)
        ending = [n for n, node in self.g.nodes.items() if node.kind is NodeKind.END]
        finishes: set[str] = set()
        queue = list(ending)
        while queue:
            current = queue.pop()
            if current not in finishes:
                finishes.add(current)
                queue.extend(back[current])
        for node_id, node in self.g.nodes.items():
            if start and node_id not in reachable:
                self.add(self.at(node_id), f"'{node_id}' is unreachable from the start node")
            elif node.kind is not NodeKind.END and not self.g.succ(node_id):
                self.add(self.at(node_id), f"dead end: nothing leaves '{node_id}'")
            elif ending and node_id not in finishes:
                self.add(
                    self.at(node_id), f"'{node_id}' can never reach an end node (a loop with no way out)"
                )

    def automatic_loops(self) -> None:
        edges: dict[str, list[str]] = {}
        for node_id, node in self.g.nodes.items():
            edges[node_id] = [t.to_node for t in self.g.out[node_id] if t.action in AUTO_ACTIONS]
            if node.kind is NodeKind.PARALLEL:
                edges[node_id] += [b for b in node.branches if b in self.g.nodes]
        done: set[str] = set()
        for root in edges:
            loop = _find_loop(root, edges, done)
            if loop:
                self.add(self.at(loop[0]), "automatic transitions loop: " + " → ".join(loop))


def _find_loop(root: str, edges: Mapping[str, list[str]], done: set[str]) -> list[str] | None:
    """A cycle reachable from root (iterative DFS), or None; `done` collects nodes already cleared."""
    path: list[str] = []
    on_path: set[str] = set()
    stack: list[tuple[str, Iterator[str]]] = []
    if root in done:
        return None
    stack.append((root, iter(edges[root])))
    path.append(root)
    on_path.add(root)
    while stack:
        node_id, nexts = stack[-1]
        nxt = next(nexts, None)
        if nxt is None:
            stack.pop()
            path.pop()
            on_path.discard(node_id)
            done.add(node_id)
        elif nxt in on_path:
            return [*path[path.index(nxt) :], nxt]
        elif nxt not in done:
            stack.append((nxt, iter(edges[nxt])))
            path.append(nxt)
            on_path.add(nxt)
    return None


def validate(defn: WorkflowDefinition) -> list[Issue]:
    """Every problem of a definition (empty: it may be published)."""
    return _Checker(defn).run()


def publish(defn: WorkflowDefinition) -> WorkflowDefinition:
    """The definition ready to run (inferred joins filled in), or InvalidInputError listing every problem."""
    issues = validate(defn)
    if issues:
        raise InvalidInputError(
            f"workflow '{defn.id}' has {len(issues)} problem(s)", details=[i.model_dump() for i in issues]
        )
    g = _graph(defn)
    published = defn.model_copy(deep=True)
    for node in published.nodes:
        if node.kind is NodeKind.PARALLEL:
            node.join = g.joins[node.id]
    return published


# --- runtime ---------------------------------------------------------------------------------------------


class _Run:
    """One step over a copy of the state: collects what was entered, exited and must be done."""

    def __init__(self, defn: WorkflowDefinition, state: WorkflowState, fields: Mapping[str, object]) -> None:
        self.g = _graph(defn)
        self.version = defn.version
        self.state = state.model_copy(deep=True)
        self.values = coerce_fields(defn, fields)
        self.entered: list[str] = []
        self.exited: list[str] = []
        self.effects: list[Effect] = []
        for node_id in self.state.active:
            if node_id not in self.g.nodes:
                raise ConflictError(f"node '{node_id}' is not in version {defn.version} of '{defn.id}'")

    def holds(self, guard: str | None) -> bool:
        return guard is None or parse_guard(guard).holds(self.values)

    def pick(self, node_id: str, action: str) -> Transition | None:
        """The transition `action` takes from the node: the first whose guard holds (auto covers joined)."""
        automatic = action in AUTO_ACTIONS
        for t in self.g.out[node_id]:
            if (t.action in AUTO_ACTIONS if automatic else t.action == action) and self.holds(t.guard):
                return t
        return None

    def step(self) -> Step:
        active = self.state.active
        done = bool(active) and all(self.g.nodes[n].kind is NodeKind.END for n in active)
        return Step(
            state=self.state,
            entered=self.entered,
            exited=self.exited,
            effects=self.effects,
            done=done and not self.state.arrived,
        )

    def leave(self, node_id: str) -> None:
        self.state.active.remove(node_id)
        self.state.votes.pop(node_id, None)
        self.exited.append(node_id)

    def move(self, source: str, t: Transition) -> None:
        self.leave(source)
        self.arrive(source, t.to_node)

    def arrive(self, source: str, target: str) -> None:
        if self.g.nodes[target].kind is NodeKind.JOIN:
            branch = self.g.branch_of.get(target, {}).get(source)
            fork = self.g.forks.get(target)
            if branch is None or fork is None:
                raise InvalidInputError(f"'{source}' enters the join '{target}' from outside its branches")
            arrived = self.state.arrived.setdefault(target, [])
            if branch not in arrived:
                arrived.append(branch)
            if not set(self.g.nodes[fork].branches) <= set(arrived):
                return
            del self.state.arrived[target]
        self.enter(target)

    def enter(self, node_id: str) -> None:
        if len(self.entered) >= _MAX_ENTRIES:
            raise InvalidInputError(f"workflow version {self.version} loops through automatic transitions")
        node = self.g.nodes[node_id]
        self.entered.append(node_id)
        self.state.active.append(node_id)
        self.state.votes.pop(node_id, None)
        self.effects += [Effect(node=node_id, type=a.type, params=dict(a.params)) for a in node.on_enter]
        if node.kind is NodeKind.PARALLEL:
            join = self.g.joins.get(node_id)
            if join is None:
                raise InvalidInputError(f"parallel node '{node_id}' has no join")
            self.state.arrived.pop(join, None)  # a block entered again starts afresh
            self.leave(node_id)
            for branch in node.branches:
                self.arrive(node_id, branch)
            return
        automatic = self.pick(node_id, "auto")
        if automatic is not None:
            self.move(node_id, automatic)

    # approvals

    def approvers(self, node_id: str) -> tuple[int, list[tuple[int, ApproverRule]]]:
        """The effective level and its rules (with their indexes): the highest level among rules that hold."""
        spec = self.g.nodes[node_id].approval
        holding = [(i, r) for i, r in enumerate(spec.approvers if spec else []) if self.holds(r.when)]
        if not holding:
            return 0, []
        level = max(r.level for _, r in holding)
        return level, [(i, r) for i, r in holding if r.level == level]

    def may_vote(self, node_id: str, who: Performer) -> bool:
        level, rules = self.approvers(node_id)
        voted = any(v.user_id == who.user_id and v.level == level for v in self.state.votes.get(node_id, []))
        return not voted and any(r.actor.matches(who) for _, r in rules)

    def approved(self, node_id: str, level: int, rules: list[tuple[int, ApproverRule]]) -> bool:
        spec = self.g.nodes[node_id].approval
        votes = [v for v in self.state.votes.get(node_id, []) if v.level == level and v.approve]
        if spec is None or spec.mode is not ApprovalMode.ALL:
            return bool(votes)
        return _covers([i for i, _ in rules], {v.user_id: set(v.rules) for v in votes})

    def may_act(self, node_id: str, action: str, who: Performer) -> bool:
        node = self.g.nodes[node_id]
        if node.kind is NodeKind.APPROVAL and action in (APPROVE, REJECT):
            return self.may_vote(node_id, who)
        return node.actor is None or node.actor.matches(who)

    def who_may_act(self, node_id: str, action: str) -> list[dict[str, Any]]:
        node = self.g.nodes[node_id]
        if node.kind is NodeKind.APPROVAL and action in (APPROVE, REJECT):
            level, rules = self.approvers(node_id)
            return [_who(node_id, r.actor, level) for _, r in rules]
        return [_who(node_id, node.actor or Actor(), None)]

    def allowed(self, who: Performer) -> list[AllowedAction]:
        result: list[AllowedAction] = []
        for node_id in self.state.active:
            seen: set[str] = set()
            for t in self.g.out[node_id]:
                if t.action in AUTO_ACTIONS or t.action in seen or not self.holds(t.guard):
                    continue
                seen.add(t.action)  # the first transition whose guard holds is the one the action takes
                if self.may_act(node_id, t.action, who):
                    result.append(
                        AllowedAction(
                            node=node_id, action=t.action, to_node=t.to_node, label=t.label or t.action
                        )
                    )
        return result

    def vote(self, node_id: str, t: Transition, who: Performer, at: datetime, comment: str | None) -> None:
        level, rules = self.approvers(node_id)
        if not rules:
            raise ConflictError(
                f"no approver rule of '{self.g.nodes[node_id].name}' applies to this ticket: "
                "check the fields its conditions use"
            )
        if not self.may_vote(node_id, who):
            mine = [i for i, r in rules if r.actor.matches(who)]
            if mine:
                raise ConflictError(f"you already voted on '{self.g.nodes[node_id].name}'")
            names = " or ".join(r.actor.describe() for _, r in rules)
            raise ForbiddenError(
                f"only {names} (level {level}) may {t.action} in '{self.g.nodes[node_id].name}'",
                details=self.who_may_act(node_id, t.action),
            )
        matched = [i for i, r in rules if r.actor.matches(who)]
        self.state.votes.setdefault(node_id, []).append(
            Vote(
                user_id=who.user_id,
                level=level,
                approve=t.action == APPROVE,
                at=at,
                comment=comment,
                rules=matched,
            )
        )
        if t.action == REJECT or self.approved(node_id, level, rules):
            self.move(node_id, t)


def _who(node_id: str, actor: Actor, level: int | None) -> dict[str, Any]:
    who: dict[str, Any] = {"node": node_id, **actor.model_dump(mode="json"), "description": actor.describe()}
    if level is not None:
        who["level"] = level
    return who


def _covers(rules: list[int], voters: Mapping[str, set[int]]) -> bool:
    """Whether distinct voters can be matched one to each rule (bipartite matching by augmenting paths)."""
    holder: dict[int, str] = {}

    def assign(user: str, tried: set[int]) -> bool:
        for rule in voters[user]:
            if rule in rules and rule not in tried:
                tried.add(rule)
                if rule not in holder or assign(holder[rule], tried):
                    holder[rule] = user
                    return True
        return False

    for user in voters:
        assign(user, set())
    return all(rule in holder for rule in rules)


def start(defn: WorkflowDefinition, fields: Mapping[str, object]) -> Step:
    """A new ticket's first step: the start node entered (and left at once when its transitions are auto)."""
    start_node = next((n.id for n in defn.nodes if n.kind is NodeKind.START), None)
    if start_node is None:
        raise InvalidInputError(f"workflow '{defn.id}' has no start node")
    run = _Run(defn, WorkflowState(), fields)
    run.enter(start_node)
    return run.step()


def allowed_actions(
    defn: WorkflowDefinition, state: WorkflowState, *, performer: Performer, fields: Mapping[str, object]
) -> list[AllowedAction]:
    """What the performer may do now: manual actions whose guard holds, in active nodes they may act in."""
    return _Run(defn, state, fields).allowed(performer)


def apply(
    defn: WorkflowDefinition,
    state: WorkflowState,
    action: str,
    *,
    performer: Performer,
    fields: Mapping[str, object],
    at: datetime,
    node: str | None = None,
    comment: str | None = None,
) -> Step:
    """Perform `action` in an active node (`node` names it when several active nodes offer the action).

    ConflictError: not possible now (details: the actions this performer may take); ForbiddenError: possible
    but not for this performer (details: who may); InvalidInputError: ambiguous without `node`. The state
    passed in is not modified. On an approval node, approve / reject are votes: the node is left once the
    votes suffice (or at the first rejection)."""
    run = _Run(defn, state, fields)

    def not_possible(message: str) -> ConflictError:
        return ConflictError(message, details=[a.model_dump() for a in run.allowed(performer)])

    if node is not None and node not in run.state.active:
        raise not_possible(f"'{node}' is not an active step of this ticket")
    candidates = [
        (n, t) for n in ([node] if node else list(run.state.active)) if (t := _manual(run, n, action))
    ]
    if not candidates:
        raise not_possible(f"'{action}' is not possible now")
    if len(candidates) > 1:
        nodes = ", ".join(n for n, _ in candidates)
        raise InvalidInputError(
            f"'{action}' is possible in several active steps ({nodes}): say which with `node`",
            details=[{"field": "node", "message": f"one of {nodes}"}],
        )
    node_id, t = candidates[0]
    target = run.g.nodes[node_id]
    if target.kind is NodeKind.APPROVAL and action in (APPROVE, REJECT):
        run.vote(node_id, t, performer, at, comment)
        return run.step()
    if not run.may_act(node_id, action, performer):
        actor = target.actor or Actor()
        raise ForbiddenError(
            f"only {actor.describe()} may {action} in '{target.name}'",
            details=run.who_may_act(node_id, action),
        )
    run.move(node_id, t)
    return run.step()


def _manual(run: _Run, node_id: str, action: str) -> Transition | None:
    return None if action in AUTO_ACTIONS else run.pick(node_id, action)


# --- presets ---------------------------------------------------------------------------------------------


def _n(
    node_id: str, name: str, kind: NodeKind, actor: Actor | None = None, *on_enter: NodeAction, **extra: Any
) -> Node:
    return Node(id=node_id, name=name, kind=kind, actor=actor, on_enter=list(on_enter), **extra)


def _t(source: str, action: str, target: str, label: str = "", guard: str | None = None) -> Transition:
    return Transition(from_node=source, action=action, to_node=target, label=label, guard=guard)


def _notify(to: str, text: str, template: str | None = None) -> NodeAction:
    params: dict[str, Any] = {"to": to, "text": text}
    if template:
        params["template"] = template
    return NodeAction(type=NodeActionType.NOTIFY, params=params)


def _timer(name: str, action: str | None = None, **duration: int) -> NodeAction:
    params: dict[str, Any] = {"name": name, **duration}
    if action:
        params["action"] = action
    return NodeAction(type=NodeActionType.START_TIMER, params=params)


def _assign(**params: Any) -> NodeAction:
    return NodeAction(type=NodeActionType.ASSIGN, params=params)


# Constructed, not validated: building Actor's validator at import would cost every cold start.
AGENT = Actor.model_construct(role=Role.AGENT)
ENGINEER = Actor.model_construct(role=Role.ENGINEER)
STORE_MANAGER = Actor.model_construct(role=Role.MANAGER, scope=ScopeKind.STORE)
REGIONAL_MANAGER = Actor.model_construct(role=Role.MANAGER, scope=ScopeKind.REGION)
_S, _TASK, _E = NodeKind.START, NodeKind.TASK, NodeKind.END


def _wf_repair() -> WorkflowDefinition:
    return WorkflowDefinition(
        id="wf_repair",
        name="维修工单",
        description="分诊 → 派单 → 上门维修 → 待客户确认 → 关闭；紧急工单跳过分诊，关闭后可重开。",
        fields={"warranty": FieldKind.ENUM, "labour_fee": FieldKind.MONEY},
        nodes=[
            _n("new", "新建", _S),
            _n("triage", "分诊", _TASK, AGENT, _timer("triage_sla", minutes=30)),
            _n("dispatch", "派单", _TASK, AGENT, _assign(role="engineer", strategy="nearest_available")),
            _n(
                "on_site",
                "上门维修",
                _TASK,
                ENGINEER,
                _notify("customer", "工程师已出发，正在上门途中", "engineer_on_the_way"),
                _timer("onsite_sla", hours=24),
            ),
            _n(
                "resolved",
                "待客户确认",
                _TASK,
                AGENT,
                _notify("customer", "维修已完成，请确认维修结果", "confirm_repair"),
                _timer("auto_close", "confirm", hours=72),
            ),
            _n(
                "closed", "已关闭", _E, AGENT, _notify("customer", "感谢您的反馈，请为本次服务评价", "survey")
            ),
            _n("cancelled", "已取消", _E),
        ],
        transitions=[
            _t("new", "auto", "dispatch", "紧急：跳过分诊", guard='priority == "urgent"'),
            _t("new", "auto", "triage"),
            _t("triage", "accept", "dispatch", "受理"),
            _t("triage", "cancel", "cancelled", "取消"),
            _t("dispatch", "assign", "on_site", "派工"),
            _t("dispatch", "cancel", "cancelled", "取消"),
            _t("on_site", "resolve", "resolved", "已修复"),
            _t("on_site", "reassign", "dispatch", "转派"),
            _t("resolved", "confirm", "closed", "客户确认"),
            _t("resolved", "reject", "on_site", "客户反馈未修好"),
            _t("closed", "reopen", "on_site", "重新打开"),
        ],
    )


def _wf_install() -> WorkflowDefinition:
    parts = NodeAction(type=NodeActionType.RESERVE_PARTS, params={"source": "sku"})
    release = NodeAction(type=NodeActionType.RELEASE_PARTS, params={"source": "sku"})
    return WorkflowDefinition(
        id="wf_install",
        name="安装工单",
        description="预约排期 → 上门安装 → 电路检查 ∥ 管道清洗 → 打压测试 → 完成。",
        fields={"needs_electrical_check": FieldKind.BOOL, "preferred_date": FieldKind.DATE},
        nodes=[
            _n("new", "新建", _S),
            _n("schedule", "预约排期", _TASK, AGENT, _assign(role="engineer", strategy="by_schedule"), parts),
            _n(
                "install",
                "上门安装",
                _TASK,
                ENGINEER,
                _notify("customer", "安装师傅已出发", "engineer_on_the_way"),
            ),
            _n("checks", "并行检查", NodeKind.PARALLEL, branches=["electrical_check", "pipe_cleaning"]),
            _n("electrical_check", "电路检查", _TASK, ENGINEER),
            _n("pipe_cleaning", "管道清洗", _TASK, ENGINEER),
            _n("checks_done", "检查完成", NodeKind.JOIN),
            _n("pressure_test", "打压测试", _TASK, ENGINEER),
            _n("done", "已完成", _E, AGENT, _notify("customer", "安装已完成，请为本次服务评价", "survey")),
            _n("cancelled", "已取消", _E, None, release),
        ],
        transitions=[
            _t("new", "auto", "schedule"),
            _t("schedule", "schedule", "install", "确认排期"),
            _t("schedule", "cancel", "cancelled", "取消"),
            _t("install", "installed", "checks", "安装完成"),
            _t("electrical_check", "complete", "checks_done", "电路检查完成"),
            _t("pipe_cleaning", "complete", "checks_done", "管道清洗完成"),
            _t("checks_done", "joined", "pressure_test"),
            _t("pressure_test", "pass", "done", "测试通过"),
            _t("pressure_test", "fail", "install", "测试不通过，返工"),
        ],
    )


def _wf_return() -> WorkflowDefinition:
    return WorkflowDefinition(
        id="wf_return",
        name="退换货",
        description="退款申请中的订单：仓库收货验货 ∥ 财务审核退款 → 完成。",
        fields={"refund_amount": FieldKind.MONEY, "request_type": FieldKind.ENUM, "reason": FieldKind.ENUM},
        nodes=[
            _n("new", "新建", _S),
            _n("process", "并行处理", NodeKind.PARALLEL, branches=["receive_goods", "refund_review"]),
            _n(
                "receive_goods",
                "仓库收货",
                _TASK,
                Actor(department="warehouse"),
                _notify("department:warehouse", "有退货待收货验货"),
            ),
            _n(
                "refund_review",
                "财务审核退款",
                _TASK,
                Actor(role=Role.FINANCE),
                _notify("role:finance", "有退款待审核"),
            ),
            _n("ready", "收货与退款完成", NodeKind.JOIN),
            _n("closed", "已完成", _E, AGENT, _notify("customer", "您的退换货已处理完成", "return_done")),
        ],
        transitions=[
            _t("new", "auto", "process"),
            _t("receive_goods", "received", "ready", "已收货"),
            _t("refund_review", "refunded", "ready", "已退款"),
            _t("ready", "joined", "closed"),
        ],
    )


def _wf_complaint() -> WorkflowDefinition:
    return WorkflowDefinition(
        id="wf_complaint",
        name="投诉处理",
        description="客服处理 → 补偿审批（≤500 门店经理，>500 或跨区域 区域经理）→ 执行补偿 → 关闭。",
        fields={"compensation": FieldKind.MONEY},
        nodes=[
            _n("new", "新建", _S),
            _n(
                "handling",
                "客服处理",
                _TASK,
                AGENT,
                _assign(role="agent", strategy="least_busy"),
                _timer("first_response", hours=2),
            ),
            _n(
                "approval",
                "补偿审批",
                NodeKind.APPROVAL,
                None,
                _notify("approvers", "有待审批的补偿申请"),
                approval=ApprovalSpec(
                    mode=ApprovalMode.ANY,
                    approvers=[
                        ApproverRule(when="compensation <= 500", actor=STORE_MANAGER, level=1),
                        ApproverRule(
                            when="compensation > 500 or cross_region", actor=REGIONAL_MANAGER, level=2
                        ),
                    ],
                ),
            ),
            _n("compensate", "执行补偿", _TASK, AGENT),
            _n("closed", "已关闭", _E, AGENT, _notify("customer", "您的投诉已处理完毕，感谢反馈", "survey")),
        ],
        transitions=[
            _t("new", "auto", "handling"),
            _t("handling", "request_compensation", "approval", "申请补偿", guard="compensation > 0"),
            _t("handling", "resolve", "closed", "直接解决"),
            _t("approval", "approve", "compensate", "同意补偿"),
            _t("approval", "reject", "handling", "驳回"),
            _t("compensate", "compensate", "closed", "已补偿"),
            _t("closed", "reopen", "handling", "重新打开"),
        ],
    )


def _wf_booking() -> WorkflowDefinition:
    cancelled = _notify("customer", "您的预约已取消", "booking_cancelled")
    return WorkflowDefinition(
        id="wf_booking",
        name="预约（保养 / 课程）",
        description="已预约 → 已确认 → 已服务 → 关闭；确认前后都可取消。",
        fields={"preferred_date": FieldKind.DATE},
        nodes=[
            _n("new", "新建", _S),
            _n(
                "booked",
                "已预约",
                _TASK,
                AGENT,
                _notify("customer", "预约已收到，稍后与您确认", "booking_received"),
            ),
            _n(
                "confirmed",
                "已确认",
                _TASK,
                None,  # the agent, the technician or the teacher
                _notify("customer", "预约已确认", "booking_confirmed"),
                _timer("reminder", hours=24),
            ),
            _n("served", "已服务", _TASK, AGENT, _notify("customer", "请为本次服务评价", "survey")),
            _n("closed", "已关闭", _E),
            _n("cancelled", "已取消", _E, None, cancelled),
        ],
        transitions=[
            _t("new", "auto", "booked"),
            _t("booked", "confirm", "confirmed", "确认预约"),
            _t("booked", "cancel", "cancelled", "取消预约"),
            _t("confirmed", "serve", "served", "已到店/已上课"),
            _t("confirmed", "cancel", "cancelled", "取消预约"),
            _t("served", "close", "closed", "关闭"),
        ],
    )


def preset_workflows() -> list[WorkflowDefinition]:
    """The workflows the preset ticket templates use (fresh objects on each call: callers may edit them)."""
    return [publish(f()) for f in (_wf_repair, _wf_install, _wf_return, _wf_complaint, _wf_booking)]
