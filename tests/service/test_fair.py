"""Fair sharing of the verifier pool: a slow batch does not hold other requests' small ones."""

from __future__ import annotations

import asyncio
import time

from service.engine import build_engine
from service.fair import FairSlots
from service.models import ScoreRequest
from service.settings import Settings


def test_slots_go_round_robin_between_lanes_and_fifo_within_one():
    async def scenario() -> list[str]:
        slots = FairSlots(1)
        order: list[str] = []
        gate = asyncio.Event()

        async def job(lane: str, name: str) -> None:
            async with slots.hold(lane):
                order.append(name)
                await gate.wait() if name == "first" else asyncio.sleep(0)

        first = asyncio.ensure_future(job("big", "first"))
        await asyncio.sleep(0)
        tasks = [asyncio.ensure_future(job("big", f"big{i}")) for i in range(3)]
        await asyncio.sleep(0)
        tasks.append(asyncio.ensure_future(job("small", "small0")))
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(first, *tasks)
        return order

    assert asyncio.run(scenario()) == ["first", "big0", "small0", "big1", "big2"]


def test_a_cancelled_waiter_gives_its_turn_away():
    async def scenario() -> int:
        slots = FairSlots(1)
        hold = asyncio.Event()

        async def holder() -> None:
            async with slots.hold("a"):
                await hold.wait()

        h = asyncio.ensure_future(holder())
        await asyncio.sleep(0)
        waiter = asyncio.ensure_future(slots._acquire("b", 1))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.sleep(0)
        hold.set()
        await h
        async with slots.hold("c"):
            return slots.waiting

    assert asyncio.run(scenario()) == 0


def test_a_small_request_is_not_held_by_a_slow_batch():
    engine = build_engine(Settings(workers=1, custom_tasks={"slow": "tests.service.chaos.slow"}, item_timeout_s=30))

    async def scenario() -> tuple[float, float]:
        started = time.perf_counter()
        big = asyncio.ensure_future(
            engine.score(
                ScoreRequest(
                    items=[{"task": "slow", "completion": f"0.3 {i}", "reference": "x"} for i in range(12)],
                    use_cache=False,
                )
            )
        )
        await asyncio.sleep(0.2)
        small = await engine.score(
            ScoreRequest(items=[{"task": "slow", "completion": "0.01 s", "reference": "x"}], use_cache=False)
        )
        small_done = time.perf_counter() - started
        assert small.results[0].reward == 1.0
        out = await big
        assert [r.reward for r in out.results] == [1.0] * 12
        return small_done, time.perf_counter() - started

    try:
        small_done, big_done = asyncio.run(scenario())
    finally:
        asyncio.run(engine.close())
    # FIFO would answer the small request after all 12 slow jobs (3.6 s); fair slots after the two in flight.
    assert small_done < big_done / 2, (small_done, big_done)


def test_a_heavy_job_waits_for_its_units_and_nobody_overtakes_it():
    async def scenario() -> list[str]:
        slots = FairSlots(4)
        order: list[str] = []
        gates = {name: asyncio.Event() for name in ("a", "b")}

        async def job(lane: str, name: str, units: int) -> None:
            async with slots.hold(lane, units):
                order.append(name)
                if name in gates:
                    await gates[name].wait()

        running = [asyncio.ensure_future(job("x", "a", 2)), asyncio.ensure_future(job("y", "b", 2))]
        await asyncio.sleep(0)
        queued = [asyncio.ensure_future(job("z", "heavy", 4)), asyncio.ensure_future(job("w", "light", 1))]
        await asyncio.sleep(0)
        gates["a"].set()  # two units free: not enough for the heavy job, and the light one may not jump it
        await asyncio.sleep(0.01)
        assert order == ["a", "b"]
        gates["b"].set()
        await asyncio.gather(*running, *queued)
        return order

    assert asyncio.run(scenario()) == ["a", "b", "heavy", "light"]
