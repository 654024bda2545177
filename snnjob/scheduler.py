"""A scheduler of work items over Ray actors that replaces lost actors and retries their work.

Like :class:`ray.util.ActorPool`, but built for long sweeps on clusters that lose workers
and nodes:

- items wait in a driver-side queue, in the given order; each ready actor holds at most
  ``per_actor`` of them (one running, the next already queued, so no actor idles while the
  driver writes a result). Free actors pull the next item: a fast actor does more, a
  replacement joins in, and consecutive items (which callers order so that they share an
  actor's state) stay together;
- results are yielded as they land (:meth:`Scheduler.run`), not in submission order;
- an actor that dies (:class:`ray.exceptions.RayActorError`) fails its items at once; each
  goes back to the front of the queue. Only the item it was running (its oldest unfinished
  one: an actor runs its items in order) is charged an attempt, up to ``max_attempts`` per
  item; an item that merely waited behind it is requeued free. Given ``replace``, a
  replacement actor is started: every lost actor of a long run is replaced as long as work
  gets done. Only when ``max_replacements`` replacements in a row died without an item
  completing, and none has completed for ``start_timeout_s`` either, do the next losses
  wait: actors that die before finishing anything (a worker that cannot start) are not
  restarted forever, while a burst of losses is ridden out; once an item completes, they
  are replaced (the pool gets back to its size). An actor receives items
  only once it is ready (``ping`` answered), so a replacement that finds no room on the
  cluster never holds work: the others finish it;
- an item whose own code raises is not retried (the same input raises again): the run stops
  with a :class:`SweepError` that names the item and the cause.

It knows nothing about NengoDL: tests drive it with ``f(x) = x + 1`` actors.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import ray

from snnjob.errors import SnnjobError

log = logging.getLogger(__name__)

Item = TypeVar("Item")
STARTING, READY, LOST = "starting", "ready", "lost"


class SweepError(SnnjobError):
    """An item could not be completed: its code failed, or its attempt budget ran out."""


@dataclass
class SchedulerStats:
    """What happened during :meth:`Scheduler.run`."""

    submitted: int = 0  # attempts submitted, resubmissions included
    completed: int = 0
    resubmitted: int = 0
    requeued: int = 0  # items that waited behind a crash, requeued without an attempt
    lost_actors: list[int] = field(default_factory=list)  # indices into Scheduler.actors
    replaced: int = 0  # replacement actors started
    refilled: int = 0  # of which for actors lost while no item completed (started later)


def _succeeded(ref: ray.ObjectRef) -> bool:
    """Whether ``ref`` has already resolved to a value (not an error), without waiting."""
    if not ray.wait([ref], timeout=0)[0]:
        return False
    try:
        ray.get(ref)
    except ray.exceptions.RayError:
        return False
    return True


def _ping(actor: Any) -> ray.ObjectRef:
    return actor.__ray_ready__.remote()


class Scheduler(Generic[Item]):
    """Run items on ``actors`` through ``submit(actor, item) -> ObjectRef``.

    Parameters
    ----------
    actors
        Ray actor handles; they get items once ``ping(actor)`` has answered.
    submit
        Starts one item on one actor and returns the result's ObjectRef.
    max_attempts
        Attempts per item, the first included (>= 1).
    describe
        Names an item in log lines and errors (default ``repr``).
    replace
        Starts a replacement for a lost actor and returns its handle (or None: no room).
    max_replacements
        Replacements in a row without an item completing (default: as many as there are
        actors) after which, once no item has completed for ``start_timeout_s`` either,
        lost actors wait; each completed item resets the count and replaces them.
    per_actor
        Items a ready actor holds at once (>= 1).
    start_timeout_s
        After a loss, how long to wait for a replacement when no actor is ready at all
        (before any loss, actors that wait for resources, e.g. CPUs still held by training,
        are waited for); and see ``max_replacements``.
    ping
        Returns an ObjectRef that resolves once the actor is constructed.
    """

    def __init__(
        self,
        actors: list[Any],
        submit: Callable[[Any, Item], ray.ObjectRef],
        *,
        max_attempts: int = 3,
        describe: Callable[[Item], str] = repr,
        replace: Callable[[], Any | None] | None = None,
        max_replacements: int | None = None,
        per_actor: int = 2,
        start_timeout_s: float = 300.0,
        ping: Callable[[Any], ray.ObjectRef] = _ping,
    ):
        if not actors:
            raise ValueError("a Scheduler needs at least one actor")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if per_actor < 1:
            raise ValueError(f"per_actor must be >= 1, got {per_actor}")
        self.actors: list[Any] = []
        self._state: list[str] = []
        self._load: list[int] = []
        self._submit, self._describe, self._ping = submit, describe, ping
        self._max_attempts, self._per_actor = max_attempts, per_actor
        self._replace = replace
        self._max_replacements = len(actors) if max_replacements is None else max_replacements
        self._start_timeout_s = start_timeout_s
        self._replaced_in_a_row = 0  # replacements since an item last completed
        self._progress_at = time.monotonic()  # when run() started or an item last completed
        self._unreplaced: list[int] = []  # lost meanwhile: replaced once an item completes
        self._queue: deque[tuple[Item, int]] = deque()  # (item, attempts made so far)
        # ref -> (item, actor, attempts made so far, submission number)
        self._inflight: dict[ray.ObjectRef, tuple[Item, int, int, int]] = {}
        self._culprit: dict[int, int] = {}  # lost actor -> submission number it was running
        self._starting: dict[ray.ObjectRef, int] = {}  # ping ref -> actor index
        self.stats = SchedulerStats()
        for actor in actors:
            self._add(actor)

    @property
    def live_actors(self) -> list[int]:
        """Indices of the actors not known to be lost (ready or starting)."""
        return [i for i, s in enumerate(self._state) if s != LOST]

    def run(self, items: Iterable[Item]) -> Iterator[tuple[Item, Any]]:
        """Yield ``(item, result)`` for every item, in completion order.

        Raises :class:`SweepError` when an item's code raises, when an item has used
        ``max_attempts`` attempts, or when no actor is left (or none becomes ready within
        ``start_timeout_s``); items still in flight are then abandoned (the caller owns the
        actors and kills them).
        """
        self._queue.extend((item, 0) for item in items)
        self._progress_at = time.monotonic()
        self._fill()
        waiting_since = time.monotonic()
        while self._inflight or self._queue:
            if not self._inflight and not self._starting:
                raise SweepError(
                    f"no actor left for {len(self._queue)} item(s), the first "
                    f"{self._describe(self._queue[0][0])}{self._why_none_left()}"
                )
            timeout = None
            if not self._inflight and self.stats.lost_actors:  # only replacements starting
                timeout = max(0.0, waiting_since + self._start_timeout_s - time.monotonic())
            done, _ = ray.wait([*self._inflight, *self._starting], num_returns=1, timeout=timeout)
            if not done:
                raise SweepError(
                    f"no actor became ready within {self._start_timeout_s:g} s for "
                    f"{len(self._queue)} item(s): the cluster has no room for a replacement "
                    f"(add nodes or free resources, then re-run to resume)"
                )
            waiting_since = time.monotonic()
            ref = done[0]
            if ref in self._starting:
                self._started(ref)
                self._fill()
                continue
            item, actor, attempt, seq = self._inflight.pop(ref)
            self._load[actor] -= 1
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                running = self._running_when_lost(actor, seq)
                self._lost(actor, exc)
                if running:
                    self._retry(item, attempt, exc)
                else:
                    self._requeue(item, attempt)
                self._fill()
                continue
            except ray.exceptions.RayTaskError as exc:
                raise SweepError(
                    f"{self._describe(item)} failed on actor {actor}: "
                    f"{type(exc.cause).__name__}: {exc.cause}"
                ) from exc
            self.stats.completed += 1
            self._replaced_in_a_row, self._progress_at = 0, time.monotonic()
            self._refill()
            self._fill()  # before the caller handles the result: the actor keeps busy
            yield item, result

    def _add(self, actor: Any) -> None:
        self.actors.append(actor)
        self._state.append(STARTING)
        self._load.append(0)
        self._starting[self._ping(actor)] = len(self.actors) - 1

    def _started(self, ref: ray.ObjectRef) -> None:
        index = self._starting.pop(ref)
        try:
            ray.get(ref)
        except ray.exceptions.RayError as exc:  # died while starting
            self._lost(index, exc)
            return
        if self._state[index] == STARTING:
            self._state[index] = READY

    def _fill(self) -> None:
        """Hand queued items to ready actors, least loaded first, up to ``per_actor`` each."""
        while self._queue:
            ready = [i for i, s in enumerate(self._state) if s == READY]
            free = [i for i in ready if self._load[i] < self._per_actor]
            if not free:
                return
            actor = min(free, key=lambda i: (self._load[i], i))
            item, attempt = self._queue.popleft()
            if attempt:
                self.stats.resubmitted += 1
                log.warning("%s resubmitted to actor %d", self._describe(item), actor)
            seq = self.stats.submitted
            self._inflight[self._submit(self.actors[actor], item)] = (item, actor, attempt, seq)
            self._load[actor] += 1
            self.stats.submitted += 1

    def _running_when_lost(self, actor: int, seq: int) -> bool:
        """Whether submission ``seq`` was the one ``actor`` was running when it died: its
        oldest submission not finished successfully (an actor runs its items in order)."""
        if actor not in self._culprit:
            culprit = seq
            earlier = sorted(
                (s, ref) for ref, (_, a, _, s) in self._inflight.items() if a == actor and s < seq
            )
            for s, ref in earlier:
                if not _succeeded(ref):
                    culprit = s
                    break
            self._culprit[actor] = culprit
        return self._culprit[actor] == seq

    def _requeue(self, item: Item, attempt: int) -> None:
        self.stats.requeued += 1
        log.warning("%s waited behind a crash: requeued", self._describe(item))
        self._queue.appendleft((item, attempt))

    def _lost(self, actor: int, exc: Exception) -> None:
        if self._state[actor] == LOST:
            return
        self._state[actor] = LOST
        self.stats.lost_actors.append(actor)
        log.warning("actor %d lost: %s", actor, type(exc).__name__)
        if self._replace is None:
            return
        if not self._may_replace():
            self._unreplaced.append(actor)
            log.warning("actor %d not replaced for now: %s", actor, self._no_progress())
            return
        self._start_replacement(actor)

    def _may_replace(self) -> bool:
        return (
            self._replaced_in_a_row < self._max_replacements
            or time.monotonic() - self._progress_at < self._start_timeout_s
        )

    def _no_progress(self) -> str:
        return (f"the last {self._replaced_in_a_row} replacement(s) died and no item "
                f"completed in {self._start_timeout_s:g} s")  # fmt: skip

    def _start_replacement(self, actor: int) -> None:
        new = self._replace()
        if new is not None:
            self.stats.replaced += 1
            self._replaced_in_a_row += 1
            log.warning("actor %d started to replace actor %d", len(self.actors), actor)
            self._add(new)

    def _refill(self) -> None:
        """After an item completed: replace the actors lost while nothing completed (the
        pool gets back to its size)."""
        while self._unreplaced and self._may_replace():
            self.stats.refilled += 1
            self._start_replacement(self._unreplaced.pop(0))

    def _why_none_left(self) -> str:
        lost = len(self.stats.lost_actors)
        if not self._unreplaced:
            return f": {lost} actor(s) lost" if lost and self._replace is not None else ""
        return f": {lost} actor(s) lost, and {self._no_progress()}, so no more were started"

    def _retry(self, item: Item, attempt: int, exc: Exception) -> None:
        if attempt + 1 >= self._max_attempts:
            raise SweepError(
                f"{self._describe(item)} failed {attempt + 1} time(s) "
                f"({len(self.live_actors)} actor(s) left): "
                f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            ) from exc
        self._queue.appendleft((item, attempt + 1))
