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
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


@ray.remote(num_cpus=0)
class Adder:
    """``f(x) = x + 1``; exits its process on ``crash_on`` (a lost actor, as a dead node)."""

    def __init__(self, name: str, crash_on: int | None = None, fail_on: int | None = None):
        self.name, self.crash_on, self.fail_on = name, crash_on, fail_on
        self.seen: list[int] = []

    def f(self, x: int) -> tuple[str, int, int]:
        if x == self.crash_on:
            time.sleep(0.5)  # let the replies of the items before it reach the driver
            os._exit(1)
        if x == self.fail_on:
            raise ValueError(f"bad input {x}")
        self.seen.append(x)
        return self.name, os.getpid(), x + 1

    def order(self) -> list[int]:
        return self.seen


def submit(actor, x):
    return actor.f.remote(x)


def test_every_item_once_round_robin_in_submission_order(local_ray):
    actors = [Adder.remote("a"), Adder.remote("b")]
    scheduler = Scheduler(actors, submit)
    results = dict(scheduler.run(range(10)))
    assert sorted(results) == list(range(10))
    assert all(results[x][2] == x + 1 for x in results)
    # dealt round-robin, each actor runs its items in the order they were given
    assert ray.get(actors[0].order.remote()) == [0, 2, 4, 6, 8]
    assert ray.get(actors[1].order.remote()) == [1, 3, 5, 7, 9]
    assert (scheduler.stats.submitted, scheduler.stats.completed) == (10, 10)
    assert scheduler.stats.resubmitted == 0 and scheduler.stats.lost_actors == []


def test_a_killed_actors_work_is_resubmitted_to_the_live_ones(local_ray):
    doomed = Adder.remote("doomed", crash_on=3)
    pid = ray.get(doomed.f.remote(100))[1]
    actors = [doomed, Adder.remote("b"), Adder.remote("c")]
    scheduler = Scheduler(actors, submit)
    results = dict(scheduler.run(range(9)))
    assert sorted(results) == list(range(9))
    assert all(value == x + 1 for x, (_, _, value) in results.items())
    # dealt 0, 3, 6: item 0 ran there, the crash at 3 sent 3 and 6 elsewhere
    assert results[0][0] == "doomed"
    assert {results[x][0] for x in (3, 6)} <= {"b", "c"}
    assert scheduler.stats.lost_actors == [0]
    assert scheduler.stats.resubmitted == 2
    assert scheduler.live_actors == [1, 2]
    with pytest.raises(ProcessLookupError):  # the fault really happened
        os.kill(pid, 0)


def test_budget_exhausted_names_the_item(local_ray):
    # item 1 kills every actor it reaches; the others finish before it gets there
    actors = [Adder.remote(name, crash_on=1) for name in "abc"]
    scheduler = Scheduler(actors, submit, max_attempts=2, describe=lambda x: f"item {x}")
    with pytest.raises(SweepError, match=r"item 1 failed 2 time\(s\) \(1 actor\(s\) left\)"):
        dict(scheduler.run(range(3)))
    assert len(scheduler.stats.lost_actors) == 2


def test_no_actor_left_stops_the_run(local_ray):
    scheduler = Scheduler([Adder.remote("a", crash_on=0)], submit, max_attempts=5)
    with pytest.raises(SweepError, match=r"failed 1 time\(s\) \(0 actor\(s\) left\)"):
        dict(scheduler.run(range(3)))


def test_an_items_own_error_is_not_retried(local_ray):
    actors = [Adder.remote("a", fail_on=3), Adder.remote("b", fail_on=3)]
    scheduler = Scheduler(actors, submit, describe=lambda x: f"item {x}")
    with pytest.raises(SweepError, match=r"item 3 failed on actor 1: ValueError: bad input 3"):
        dict(scheduler.run(range(6)))
    assert scheduler.stats.resubmitted == 0


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="at least one actor"):
        Scheduler([], submit)
    with pytest.raises(ValueError, match="max_attempts must be >= 1"):
        Scheduler([object()], submit, max_attempts=0)
