"""A tenant's dead letters: the queue messages of that tenant that failed every try, shown with their raw
body and replayed once the cause is fixed. Queues are shared, so each call is filtered to the caller's tenant;
the operator's `scrm dlq` sees every tenant's."""

from __future__ import annotations

from chalicelib.domain.access import Permission, Principal
from chalicelib.domain.common import InvalidInputError
from chalicelib.services.ports import DeadLetter, DeadLetters


class DeadLetterService:
    def __init__(self, *, queues: DeadLetters) -> None:
        self._queues = queues

    def list(self, *, principal: Principal, queue: str, limit: int) -> list[DeadLetter]:
        principal.require(Permission.DEAD_LETTERS_MANAGE)
        self._check(queue)
        return self._queues.peek(queue, limit=limit, tenant_id=principal.tenant_id)

    def redrive(self, *, principal: Principal, queue: str, limit: int) -> int:
        principal.require(Permission.DEAD_LETTERS_MANAGE)
        self._check(queue)
        return self._queues.redrive(queue, limit=limit, tenant_id=principal.tenant_id)

    def _check(self, queue: str) -> None:
        known = self._queues.queues()
        if queue not in known:
            raise InvalidInputError(
                f"unknown queue '{queue}'",
                details=[{"field": "queue", "message": f"one of: {', '.join(known)}"}],
            )
