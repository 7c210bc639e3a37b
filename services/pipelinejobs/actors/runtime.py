"""The runtime: runs any actor handler on any bus and store.

For each delivery it keeps the execution record (SUBMITTED, RUNNING, COMPLETE, ERROR, with
timestamps and log lines), decodes JSON or protobuf by content type within the size limits,
calls the handler, publishes the handler's follow-ups with broker confirms and acks only after
the effect and the follow-ups are durable. Failures are classified once, here:

- ``PermanentError`` (bad message, bad token, forbidden transition...): execution ERROR with the
  reason, message to the dead-letter queue with the same reason.
- ``VersionConflict``: another writer won the race; the handler runs again on fresh state.
- ``TransientError`` (store, broker or compute service unavailable, or a race lost
  ``conflict_retries`` times): retried with exponential backoff for as long as it takes. An
  outage must not turn valid messages into dead letters; the retry happens in place, so the
  job's later events wait behind it and its history keeps the order they were sent in.
- Unexpected exceptions (a defect): retried the same way up to ``retry_max_attempts``, then
  dead-lettered with the last reason, so one poison message cannot block its partition forever.
- A failure to record the outcome itself (store down) propagates to the bus, which redelivers.

Group commit: the deliveries already waiting in a partition (up to the prefetch) are applied
together (:meth:`Runtime.process_batch`). Their handlers decide one after the other on a
:class:`~pipelinejobs.store.deferred.DeferredWrites` view of the store, which holds their
events, no-change records and execution records; then one commit writes them all, then their
follow-ups are published (confirmed), then they are settled in order. A refused message is
recorded ERROR in the same unit and dead-lettered after the commit, its neighbours apply; a
message to retry ends the batch (the ones behind it wait, so the job's order holds). If the
commit fails (a stream changed under it, the store is unavailable) nothing of the batch is
settled or published, and each message is applied again on its own, on fresh state, as above.
Per delivery the single path costs a read and three writes of the execution record besides
the event; a batch costs one read per delivery and one write in all.

Nothing is dropped silently: every outcome is in the execution record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from pipelinejobs.actors.base import Actor, ActorContext, Message
from pipelinejobs.bus.port import Bus, Delivery, Envelope, Subscription
from pipelinejobs.domain.executions import (
    ACCEPTED,
    ExecutionStatus,
    execution_id_for,
    new_execution,
    utc_now,
)
from pipelinejobs.domain.tokens import AdminTokens, UpdateTokens
from pipelinejobs.errors import InvalidInput, PermanentError, TransientError, VersionConflict
from pipelinejobs.logs import ExecutionLog, process_logger
from pipelinejobs.messages.codec import decode_document
from pipelinejobs.messages.limits import Limits
from pipelinejobs.settings import Settings
from pipelinejobs.store.deferred import DeferredWrites
from pipelinejobs.store.port import SettleExecution, Store


class Runtime:
    """Consumes each registered actor's queue and runs its handler."""

    def __init__(
        self,
        *,
        bus: Bus,
        store: Store,
        settings: Settings,
        update_tokens: UpdateTokens,
        admin_tokens: AdminTokens,
        actors: Sequence[Actor],
    ) -> None:
        self.bus = bus
        self.store = store
        self.settings = settings
        self.update_tokens = update_tokens
        self.admin_tokens = admin_tokens
        self.actors = {actor.alias: actor for actor in actors}
        self.limits = Limits(
            max_bytes=settings.max_message_bytes, max_depth=settings.max_message_depth
        )
        self._subscriptions: list[Subscription] = []
        self._consuming: list[str] = []
        self._log = process_logger(component="runtime")

    @property
    def consuming(self) -> tuple[str, ...]:
        """The aliases whose queues this runtime consumes (empty before start and after stop);
        an actor process is ready only when it consumes what it was started for."""
        return tuple(self._consuming)

    async def start(self, aliases: Sequence[str] | None = None) -> None:
        """Subscribe to the queues of ``aliases`` (default: every registered actor)."""
        chosen = list(self.actors) if aliases is None else list(aliases)
        unknown = [alias for alias in chosen if alias not in self.actors]
        if unknown:
            raise InvalidInput(
                f"actors {', '.join(unknown)} are not registered here; "
                f"registered actors: {', '.join(self.actors)}"
            )
        for alias in chosen:
            actor = self.actors[alias]
            subscription = await self.bus.consume(
                alias,
                self._handler_for(actor),
                prefetch=self.settings.prefetch,
                batch=self._batch_handler_for(actor) if _groups(actor) else None,
            )
            self._subscriptions.append(subscription)
            self._consuming.append(alias)
            self._log.info("actor consuming", alias=alias)

    async def stop(self) -> None:
        """Graceful: stop taking deliveries, let in-flight handlers finish."""
        subscriptions, self._subscriptions = self._subscriptions, []
        self._consuming = []
        await asyncio.gather(*(s.stop() for s in subscriptions))

    def _handler_for(self, actor: Actor) -> Any:
        async def handle(delivery: Delivery) -> None:
            await self.process(actor, delivery)

        return handle

    def _batch_handler_for(self, actor: Actor) -> Any:
        async def handle(deliveries: Sequence[Delivery]) -> int:
            return await self.process_batch(actor, deliveries)

        return handle

    async def process_batch(self, actor: Actor, deliveries: Sequence[Delivery]) -> int:
        """Group commit (see the module docstring); how many deliveries it settled, from the
        first: the bus hands the others to :meth:`process`, one at a time, in order."""
        unit = DeferredWrites(self.store)
        decided: list[_Decided] = []
        retry: _Retry | None = None
        for delivery in deliveries:
            outcome = await self._decide(actor, delivery, unit)
            if isinstance(outcome, _Retry):
                retry = outcome
                break
            decided.append(outcome)
        try:
            await unit.commit()
        except Exception as exc:  # nothing of the unit is settled: each goes on on its own
            self._log.info(
                "group commit failed; applying the batch one message at a time",
                alias=actor.alias,
                messages=len(deliveries),
                reason=f"{type(exc).__name__}: {exc}",
            )
            return 0
        follow_ups = [envelope for each in decided for envelope in each.follow_ups]
        if follow_ups:
            try:
                await self.bus.publish(follow_ups)
            except TransientError as exc:
                # Applied, not forwarded: the first is retried in place and the rest follow it,
                # one at a time; each finds its effect recorded and publishes its follow-ups.
                first = decided[0].delivery
                execution_id = _execution_id(first.envelope)
                log = ExecutionLog(execution_id, actor.alias)
                await self._retry(first, execution_id, log, str(exc))
                return 1
        for each in decided:
            if each.refusal is None:
                await each.delivery.ack()
            else:
                await each.delivery.dead_letter(each.refusal)
        if retry is None:
            return len(decided)
        await retry.delivery.retry_later(retry.delay, retry.reason)
        return len(decided) + 1

    async def _decide(
        self, actor: Actor, delivery: Delivery, unit: DeferredWrites
    ) -> _Decided | _Retry:
        """One delivery of a batch, its writes held in ``unit``: what to do with it."""
        envelope = delivery.envelope
        execution_id = _execution_id(envelope)
        log = ExecutionLog(execution_id, actor.alias)
        started = {
            "started": utc_now(),
            "attempts": delivery.attempt,
            "error": None,
            "finished": None,
            ACCEPTED: None,
        }
        new = _execution_of(envelope, actor.alias, execution_id)
        try:
            store = cast(Store, unit)  # the handler's reads and writes go through the unit
            result, follow_ups = await self._handle(actor, envelope, execution_id, log, store)
        except PermanentError as exc:
            reason = str(exc)
        except TransientError as exc:
            return self._retry_in(unit, delivery, log, str(exc), _running(started), new)
        except Exception as exc:
            self._log.exception("handler crashed", alias=actor.alias, execution_id=execution_id)
            reason = f"internal error: {type(exc).__name__}: {exc}"
            if delivery.attempt < self.settings.retry_max_attempts:
                return self._retry_in(unit, delivery, log, reason, _running(started), new)
            reason = f"{reason} (gave up after {delivery.attempt} attempts)"
        else:
            finished = _completed(result)
            unit.settle_execution(
                SettleExecution(execution_id, started | finished, new, tuple(log.take()))
            )
            return _Decided(delivery, follow_ups, None)
        log.error("Message refused: {reason}", reason=reason)
        unit.settle_execution(
            SettleExecution(execution_id, started | _failed(reason), new, tuple(log.take()))
        )
        return _Decided(delivery, [], reason)

    def _retry_in(
        self,
        unit: DeferredWrites,
        delivery: Delivery,
        log: ExecutionLog,
        reason: str,
        fields: Mapping[str, Any],
        new: Mapping[str, Any],
    ) -> _Retry:
        """A delivery of a batch to retry in place: its execution record, still running,
        with the failed attempt in its log, is written with the unit."""
        delay = self._note_retry(delivery, log, reason)
        unit.settle_execution(SettleExecution(log.execution_id, fields, new, tuple(log.take())))
        return _Retry(delivery, delay, reason)

    async def _handle(
        self,
        actor: Actor,
        envelope: Envelope,
        execution_id: str,
        log: ExecutionLog,
        store: Store,
    ) -> tuple[Mapping[str, Any] | None, list[Envelope]]:
        message = Message(
            document=decode_document(
                envelope.body, envelope.content_type, envelope.message_type, self.limits
            ),
            context=dict(envelope.context),
            message_id=envelope.message_id,
            message_type=envelope.message_type,
            sender=envelope.headers.get("sender"),
            headers=dict(envelope.headers),
        )
        return await self._run_handler(actor, message, execution_id, log, store)

    async def process(self, actor: Actor, delivery: Delivery) -> None:
        envelope = delivery.envelope
        execution_id = _execution_id(envelope)
        log = ExecutionLog(execution_id, actor.alias)
        await self._mark_running(envelope, actor.alias, execution_id, delivery.attempt)
        try:
            result, follow_ups = await self._handle(actor, envelope, execution_id, log, self.store)
            if follow_ups:
                await self.bus.publish(follow_ups)
        except PermanentError as exc:
            await self._refuse(delivery, execution_id, log, str(exc))
            return
        except TransientError as exc:
            await self._retry(delivery, execution_id, log, str(exc))
            return
        except Exception as exc:  # a defect in a handler must not kill the consumer
            self._log.exception("handler crashed", alias=actor.alias, execution_id=execution_id)
            reason = f"internal error: {type(exc).__name__}: {exc}"
            if delivery.attempt >= self.settings.retry_max_attempts:
                reason = f"{reason} (gave up after {delivery.attempt} attempts)"
                await self._refuse(delivery, execution_id, log, reason)
                return
            await self._retry(delivery, execution_id, log, reason)
            return
        await self.store.update_execution(
            execution_id, fields=_completed(result), log_lines=log.take()
        )
        await delivery.ack()

    async def _mark_running(
        self, envelope: Envelope, alias: str, execution_id: str, attempt: int
    ) -> None:
        """RUNNING, in one write: an update of the gateway's SUBMITTED record, or a new record
        for a message published by an actor (a follow-up) or straight to the bus."""
        running = {
            "status": ExecutionStatus.RUNNING.value,
            "started": utc_now(),
            "attempts": attempt,
        }
        if await self.store.get_execution(execution_id) is not None:
            # The record may say the bus refused the message (a publish whose confirm was lost
            # did reach the broker): the actor has it now, so that outcome no longer holds.
            stale = {"error": None, "finished": None, ACCEPTED: None}
            await self.store.update_execution(execution_id, fields=running | stale)
            return
        await self.store.save_execution(_execution_of(envelope, alias, execution_id) | running)

    async def _run_handler(
        self,
        actor: Actor,
        message: Message,
        execution_id: str,
        log: ExecutionLog,
        store: Store,
    ) -> tuple[Mapping[str, Any] | None, list[Envelope]]:
        """Run the handler, again on fresh state after each lost optimistic-concurrency race."""
        for attempt in range(1, self.settings.conflict_retries + 1):
            ctx = ActorContext(
                actor=actor.alias,
                execution_id=execution_id,
                message_id=message.message_id,
                store=store,
                settings=self.settings,
                update_tokens=self.update_tokens,
                admin_tokens=self.admin_tokens,
                log=log,
                sender=message.sender,
            )
            try:
                result = await actor.handle(message, ctx)
            except VersionConflict:
                log.debug("Lost a concurrent update (try {attempt}); reloading", attempt=attempt)
                continue
            return result, ctx.follow_ups
        raise VersionConflict(
            f"gave up after {self.settings.conflict_retries} concurrent-update conflicts"
        )

    async def _refuse(
        self, delivery: Delivery, execution_id: str, log: ExecutionLog, reason: str
    ) -> None:
        log.error("Message refused: {reason}", reason=reason)
        await self.store.update_execution(
            execution_id, fields=_failed(reason), log_lines=log.take()
        )
        await delivery.dead_letter(reason)

    async def _retry(
        self, delivery: Delivery, execution_id: str, log: ExecutionLog, reason: str
    ) -> None:
        delay = self._note_retry(delivery, log, reason)
        await self.store.update_execution(execution_id, log_lines=log.take())
        await delivery.retry_later(delay, reason)

    def _note_retry(self, delivery: Delivery, log: ExecutionLog, reason: str) -> float:
        """Log the failed attempt and when the next comes; the pause before it."""
        delay: float = min(
            self.settings.retry_base_delay * 2 ** min(delivery.attempt - 1, 32),
            self.settings.retry_max_delay,
        )
        log.warning(
            "Attempt {attempt} failed: {reason}; retrying in {delay:.1f} s",
            attempt=delivery.attempt,
            reason=reason,
            delay=delay,
        )
        return delay


@dataclass(frozen=True)
class _Decided:
    """A delivery of a batch whose outcome is in the unit: apply (ack), or refuse."""

    delivery: Delivery
    follow_ups: list[Envelope]
    refusal: str | None


@dataclass(frozen=True)
class _Retry:
    """A delivery of a batch to retry in place after ``delay``: the batch ends with it."""

    delivery: Delivery
    delay: float
    reason: str


def _groups(actor: Actor) -> bool:
    """Whether the actor's deliveries are applied in batches (see ``Actor``)."""
    return bool(getattr(actor, "group_commit", True))


def _execution_id(envelope: Envelope) -> str:
    return envelope.headers.get("execution_id") or execution_id_for(envelope.message_id)


def _execution_of(envelope: Envelope, alias: str, execution_id: str) -> dict[str, Any]:
    """The record of a message no gateway submitted (an actor's follow-up, or a message
    published straight to the bus)."""
    execution = new_execution(
        message_id=envelope.message_id,
        actor=alias,
        sender=envelope.headers.get("sender"),
        message_type=envelope.message_type,
    )
    return execution | {"id": execution_id}


def _completed(result: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "status": ExecutionStatus.COMPLETE.value,
        "finished": utc_now(),
        "result": dict(result) if result is not None else None,
    }


def _failed(reason: str) -> dict[str, Any]:
    return {"status": ExecutionStatus.ERROR.value, "finished": utc_now(), "error": reason}


def _running(started: Mapping[str, Any]) -> dict[str, Any]:
    return {**started, "status": ExecutionStatus.RUNNING.value}
