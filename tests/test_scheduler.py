"""snnjob.scheduler.Scheduler driven by trivial actors (f(x) = x + 1) on a small local Ray.

Tested the way Ray tests ``ray.util.ActorPool``: no model involved, seconds per test.
"""

from __future__ import annotations

import os
import time

import pytest

from snnjob.scheduler import Scheduler, SweepError

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow  # starts Ray


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


@ray.remote(num_cpus=0)
class Adder:
    """``f(x) = x + 1``; exits its process on item ``crash_on``, or on its ``crash_nth`` call
    (from 0), as a lost actor (a dead node) does."""

    def __init__(
        self, name: str, crash_on: int | None = None, fail_on: int | None = None, delay=0.0,
        crash_nth: int | None = None,
    ):  # fmt: skip
        self.name, self.crash_on, self.fail_on, self.delay = name, crash_on, fail_on, delay
        self.crash_nth, self.calls = crash_nth, 0
        self.seen: list[int] = []

    def f(self, x: int) -> tuple[str, int, int]:
        self.calls += 1
        if x == self.crash_on or self.calls - 1 == self.crash_nth:
            time.sleep(0.5)  # let the replies of the items before it reach the driver
            os._exit(1)
        if x == self.fail_on:
            raise ValueError(f"bad input {x}")
        self.seen.append(x)
        time.sleep(self.delay)
        return self.name, os.getpid(), x + 1

    def order(self) -> list[int]:
        return self.seen


@ray.remote(num_cpus=0)
class Sleeper:
    def f(self, x: int) -> int:
        time.sleep(0.1)
        return x


def submit(actor, x):
    return actor.f.remote(x)


def test_every_item_once_each_actor_in_queue_order(local_ray):
    actors = [Adder.remote("a"), Adder.remote("b")]
    ray.get([a.__ray_ready__.remote() for a in actors])  # both started: both get work
    scheduler = Scheduler(actors, submit)
    results = dict(scheduler.run(range(10)))
    assert sorted(results) == list(range(10))
    assert all(results[x][2] == x + 1 for x in results)
    # free actors pull from one queue: each runs its share in the order given, both work
    orders = [ray.get(a.order.remote()) for a in actors]
    assert sorted(orders[0] + orders[1]) == list(range(10))
    assert all(o == sorted(o) and o for o in orders), orders
    assert (scheduler.stats.submitted, scheduler.stats.completed) == (10, 10)
    assert scheduler.stats.resubmitted == 0 and scheduler.stats.lost_actors == []


def test_an_actor_holds_at_most_per_actor_items(local_ray):
    in_flight = []  # items on the actor after each submission

    def counting_submit(actor, x):
        in_flight.append(scheduler.stats.submitted + 1 - scheduler.stats.completed)
        return actor.f.remote(x)

    scheduler = Scheduler([Sleeper.remote()], counting_submit, per_actor=2)
    results = dict(scheduler.run(range(6)))
    assert sorted(results) == list(range(6))
    assert in_flight == [1, 2, 2, 2, 2, 2]  # one running, the next queued, never more


def warm(*actors):
    """Wait until the actors are constructed (each is then ready for the scheduler)."""
    ray.get([a.__ray_ready__.remote() for a in actors])
    return list(actors)


def test_a_killed_actors_work_is_resubmitted_to_the_live_ones(local_ray):
    # doomed is ready first, so it is dealt two items; it runs one and dies on the second
    doomed = Adder.remote("doomed", crash_nth=2)
    pid = ray.get(doomed.f.remote(100))[1]  # call 0
    actors = [doomed, *warm(Adder.remote("b"), Adder.remote("c"))]
    scheduler = Scheduler(actors, submit)
    results = dict(scheduler.run(range(9)))
    assert sorted(results) == list(range(9))
    assert all(value == x + 1 for x, (_, _, value) in results.items())
    assert [name for name, _, _ in results.values()].count("doomed") == 1
    assert scheduler.stats.lost_actors == [0]
    assert scheduler.stats.resubmitted >= 1
    assert scheduler.stats.replaced == 0  # no replace= given
    assert scheduler.live_actors == [1, 2]
    with pytest.raises(ProcessLookupError):  # the fault really happened
        os.kill(pid, 0)


def test_a_lost_actor_is_replaced_and_the_replacement_works(local_ray):
    doomed = Adder.remote("doomed", crash_nth=2)
    pid = ray.get(doomed.f.remote(100))[1]
    scheduler = Scheduler(
        [doomed, *warm(Adder.remote("b", delay=0.1))], submit,
        replace=lambda: Adder.remote("new"),
    )  # fmt: skip
    results = dict(scheduler.run(range(80)))  # 8 s of work for b alone
    assert sorted(results) == list(range(80))
    assert scheduler.stats.replaced == 1 and scheduler.stats.lost_actors == [0]
    assert "new" in {name for name, _, _ in results.values()}  # the replacement took work
    assert len(scheduler.actors) == 3 and scheduler.live_actors == [1, 2]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_replacement_without_room_holds_no_work(local_ray):
    # the replacement asks for more CPUs than the cluster has: it never starts, the live
    # actor finishes everything instead of queueing items behind it
    scheduler = Scheduler(
        warm(Adder.remote("doomed", crash_nth=0), Adder.remote("b", delay=0.05)),
        submit,
        replace=lambda: Adder.options(num_cpus=64).remote("never"),
    )
    results = dict(scheduler.run(range(8)))
    assert sorted(results) == list(range(8))
    assert {name for name, _, _ in results.values()} == {"b"}
    assert scheduler.stats.replaced == 1 and scheduler.stats.lost_actors == [0]


def test_no_ready_actor_after_a_loss_gives_up_in_bounded_time(local_ray):
    scheduler = Scheduler(
        [Adder.remote("doomed", crash_on=0)],
        submit,
        replace=lambda: Adder.options(num_cpus=64).remote("never"),
        start_timeout_s=2,
    )
    t0 = time.monotonic()
    with pytest.raises(SweepError, match=r"no actor became ready within 2 s"):
        dict(scheduler.run(range(3)))
    assert time.monotonic() - t0 < 30


def test_budget_exhausted_names_the_item(local_ray):
    # item 1 kills every actor it reaches; the others finish before it gets there
    actors = [Adder.remote(name, crash_on=1) for name in "abc"]
    scheduler = Scheduler(actors, submit, max_attempts=2, describe=lambda x: f"item {x}")
    with pytest.raises(SweepError, match=r"item 1 failed 2 time\(s\) \(1 actor\(s\) left\)"):
        dict(scheduler.run(range(3)))
    assert len(scheduler.stats.lost_actors) == 2


def test_only_the_item_an_actor_was_running_is_charged_for_its_death(local_ray):
    """Item 0 kills the first actor with item 1 queued behind it; item 1 then kills the
    first replacement. With two attempts per item, item 1 has used one (its own crash),
    not two: the item that waited behind a crash is requeued free, and the run finishes."""
    spares = iter([Adder.remote("spare1", crash_on=1), Adder.remote("spare2")])
    scheduler = Scheduler(
        warm(Adder.remote("doomed", crash_on=0)), submit, max_attempts=2,
        replace=lambda: next(spares), max_replacements=2, describe=lambda x: f"item {x}",
    )  # fmt: skip
    results = dict(scheduler.run(range(2)))
    assert sorted(results) == [0, 1]
    assert len(scheduler.stats.lost_actors) == 2
    assert scheduler.stats.requeued >= 1  # whichever item waited behind a crash
    assert results[1][0] == "spare2"


def test_a_long_run_replaces_more_actors_than_it_started_with(local_ray):
    """Every actor dies on its third call, each after finishing two items: a long sweep on
    a cluster that keeps losing workers. Each loss is replaced as long as work gets done
    (the replacement budget counts losses in a row without progress); it used to be a total
    per run, so the second loss here ended the run with "no actor left" (found by
    scripts/chaos.py: a soak killing more workers than the pool had)."""
    made: list[str] = []

    def replace():
        made.append(f"spare{len(made)}")
        return Adder.remote(made[-1], crash_nth=2 if len(made) < 5 else None)

    scheduler = Scheduler(
        warm(Adder.remote("first", crash_nth=2)), submit, max_attempts=2, replace=replace,
        describe=lambda x: f"item {x}",
    )  # fmt: skip
    results = dict(scheduler.run(range(12)))
    assert sorted(results) == list(range(12))
    assert all(results[x][2] == x + 1 for x in results)
    assert scheduler.stats.replaced == len(scheduler.stats.lost_actors) >= 3  # > 1 actor


def test_replacements_that_die_before_finishing_anything_stop_the_run(local_ray):
    """No item completes: once ``max_replacements`` replacements in a row have died and
    ``start_timeout_s`` has passed without progress, the run stops with one error instead
    of starting actors forever; until then (a burst of losses), every loss is replaced."""
    scheduler = Scheduler(
        warm(Adder.remote("doomed", crash_nth=0)), submit, max_attempts=100,
        replace=lambda: Adder.remote("doomed too", crash_nth=0), max_replacements=1,
        start_timeout_s=4,
    )  # fmt: skip
    t0 = time.monotonic()
    with pytest.raises(SweepError, match=r"no actor left for 3 item\(s\), the first \d: \d+ "
                       r"actor\(s\) lost, and the last \d+ replacement\(s\) died and no item "
                       r"completed in 4 s, so no more were started"):  # fmt: skip
        dict(scheduler.run(range(3)))
    assert scheduler.stats.replaced >= 2 and scheduler.stats.completed == 0  # > 1: 4 s
    assert 4 <= time.monotonic() - t0 < 60


@ray.remote(num_cpus=0)
class Gated:
    """``f(x) = x + 1``; its first call returns ``after`` seconds after the file ``gate``
    appears."""

    def __init__(self, gate: str, after: float):
        self.gate, self.after, self.calls = gate, after, 0

    def f(self, x: int) -> tuple[str, int, int]:
        self.calls += 1
        if self.calls == 1:
            while not os.path.exists(self.gate):
                time.sleep(0.05)
            time.sleep(self.after)
        return "gated", os.getpid(), x + 1


def test_actors_lost_while_nothing_completes_are_replaced_once_work_does(local_ray, tmp_path):
    """With ``max_replacements=1`` and ``start_timeout_s=0.5``: "doomed" dies, its
    replacement dies too, over half a second after the run started with no item completed
    (so the second loss waits); once the gated actor completes an item, the waiting loss is
    replaced and the pool is back to two. Without this, each such stretch shrank the pool
    for good (found by scripts/chaos.py)."""
    gate = tmp_path / "gate"

    spares: list = []

    def replace():
        gate.touch()  # the gated actor completes its first item 3 s from now
        spares.append(Adder.remote(f"spare{len(spares)}", crash_nth=None if spares else 0))
        return spares[-1]

    scheduler = Scheduler(
        warm(Gated.remote(str(gate), 3.0), Adder.remote("doomed", crash_nth=0)), submit,
        max_attempts=5, replace=replace, max_replacements=1, start_timeout_s=0.5,
    )  # fmt: skip
    results = dict(scheduler.run(range(6)))
    assert sorted(results) == list(range(6))
    assert len(scheduler.stats.lost_actors) == 2  # doomed and the first spare
    assert scheduler.stats.replaced == 2 and scheduler.stats.refilled == 1
    assert len(scheduler.live_actors) == 2  # the pool is back to its size


def test_no_actor_left_stops_the_run(local_ray):
    scheduler = Scheduler([Adder.remote("a", crash_on=0)], submit, max_attempts=5)
    with pytest.raises(SweepError, match=r"no actor left for 3 item\(s\)"):
        dict(scheduler.run(range(3)))


def test_an_items_own_error_is_not_retried(local_ray):
    actors = [Adder.remote("a", fail_on=3), Adder.remote("b", fail_on=3)]
    scheduler = Scheduler(actors, submit, describe=lambda x: f"item {x}")
    with pytest.raises(SweepError, match=r"item 3 failed on actor \d: ValueError: bad input 3"):
        dict(scheduler.run(range(6)))
    assert scheduler.stats.resubmitted == 0


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="at least one actor"):
        Scheduler([], submit)
    with pytest.raises(ValueError, match="max_attempts must be >= 1"):
        Scheduler([object()], submit, max_attempts=0)
    with pytest.raises(ValueError, match="per_actor must be >= 1"):
        Scheduler([object()], submit, per_actor=0)
