"""A scheduler of work items over a fixed set of Ray actors, resubmitting a lost actor's work.

Like :class:`ray.util.ActorPool`, but built for long sweeps on clusters that lose nodes:

- every item is in flight at once, dealt round-robin in the given order, so each actor runs
  its items in submission order (callers order items so that an actor rebuilds its state
  seldom) and no actor idles while the driver waits;
- results are yielded as they land (:meth:`Scheduler.run`), not in submission order;
- an actor that dies (:class:`ray.exceptions.RayActorError`) fails its queued items at
  once; each is resubmitted to the live actor with the fewest items in flight, up to
  ``max_attempts`` attempts per item;
- an item whose own code raises is not retried (the same input raises again): the run stops
  with a :class:`SweepError` that names the item and the cause.

It knows nothing about NengoDL: tests drive it with ``f(x) = x + 1`` actors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import ray

from snnjob.errors import SnnjobError

log = logging.getLogger(__name__)

Item = TypeVar("Item")


class SweepError(SnnjobError):
    """An item could not be completed: its code failed, or its attempt budget ran out."""


@dataclass
class SchedulerStats:
    """What happened during :meth:`Scheduler.run`."""

    submitted: int = 0  # attempts submitted, resubmissions included
    completed: int = 0
    resubmitted: int = 0
    lost_actors: list[int] = field(default_factory=list)  # indices into the actor list


class Scheduler(Generic[Item]):
    """Run items on ``actors`` through ``submit(actor, item) -> ObjectRef``.

    Parameters
    ----------
    actors
        Ray actor handles (a pool that is not resized during a run).
    submit
        Starts one item on one actor and returns the result's ObjectRef.
    max_attempts
        Attempts per item, the first included (>= 1).
    describe
        Names an item in log lines and errors (default ``repr``).
    """

    def __init__(
        self,
        actors: list[Any],
        submit: Callable[[Any, Item], ray.ObjectRef],
        *,
        max_attempts: int = 3,
        describe: Callable[[Item], str] = repr,
    ):
        if not actors:
            raise ValueError("a Scheduler needs at least one actor")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self._actors = list(actors)
        self._submit = submit
        self._max_attempts = max_attempts
        self._describe = describe
        # in-flight attempts: result ref -> (item, actor index, attempt number from 0)
        self._inflight: dict[ray.ObjectRef, tuple[Item, int, int]] = {}
        self._dead: set[int] = set()  # indices of actors known to be lost
        self.stats = SchedulerStats()

    @property
    def live_actors(self) -> list[int]:
        """Indices of the actors not known to be lost."""
        return [i for i in range(len(self._actors)) if i not in self._dead]

    def run(self, items: Iterable[Item]) -> Iterator[tuple[Item, Any]]:
        """Yield ``(item, result)`` for every item, in completion order.

        Raises :class:`SweepError` when an item's code raises, when an item has used
        ``max_attempts`` attempts, or when no actor is left; items still in flight are then
        abandoned (the caller owns the actors and kills them).
        """
        for i, item in enumerate(items):
            self._start(item, i % len(self._actors), 0)
        while self._inflight:
            (ref,), _ = ray.wait(list(self._inflight), num_returns=1)
            item, actor, attempt = self._inflight.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                self._lost(item, actor, attempt, exc)
                continue
            except ray.exceptions.RayTaskError as exc:
                raise SweepError(
                    f"{self._describe(item)} failed on actor {actor}: "
                    f"{type(exc.cause).__name__}: {exc.cause}"
                ) from exc
            self.stats.completed += 1
            yield item, result

    def _start(self, item: Item, actor: int, attempt: int) -> None:
        self._inflight[self._submit(self._actors[actor], item)] = (item, actor, attempt)
        self.stats.submitted += 1

    def _lost(self, item: Item, actor: int, attempt: int, exc: Exception) -> None:
        if actor not in self._dead:
            self._dead.add(actor)
            self.stats.lost_actors.append(actor)
            log.warning("actor %d lost: %s", actor, type(exc).__name__)
        alive = self.live_actors
        if attempt + 1 >= self._max_attempts or not alive:
            raise SweepError(
                f"{self._describe(item)} failed {attempt + 1} time(s) "
                f"({len(alive)} actor(s) left): {type(exc).__name__}: {str(exc).splitlines()[0]}"
            ) from exc
        load = dict.fromkeys(alive, 0)
        for _, busy, _ in self._inflight.values():
            if busy in load:
                load[busy] += 1
        target = min(alive, key=load.__getitem__)
        log.warning("%s resubmitted to actor %d", self._describe(item), target)
        self.stats.resubmitted += 1
        self._start(item, target, attempt + 1)
