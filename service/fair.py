"""Fair sharing of the verifier pool between requests.

The pool's own queue is first come, first served: one 64-item code batch queued ahead of a 1-item math request
makes that request wait for all 64. So the engine hands the pool a bounded number of jobs at once, and chooses
whose job goes next round-robin: every request in flight gets the next free units in turn, so a small request
waits for a few jobs per worker, whatever the size of the batches ahead of it, and a large batch still gets its
share. A job takes units by its weight: cheap in-process judgements (math) keep many jobs queued, so the pool never
idles between them, while slow sandboxed ones take more units each, so few of them queue ahead of anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Hashable


class FairSlots:
    """``async with slots.hold(lane, units): …`` runs the body when it is ``lane``'s turn and ``units`` are free."""

    def __init__(self, size: int) -> None:
        self._free = size
        self.size = size
        self._lanes: OrderedDict[Hashable, deque[tuple[int, asyncio.Future[None]]]] = OrderedDict()

    @property
    def waiting(self) -> int:
        """Jobs waiting for a slot."""
        return sum(len(queue) for queue in self._lanes.values())

    @contextlib.asynccontextmanager
    async def hold(self, lane: Hashable, units: int = 1) -> AsyncIterator[None]:
        """Wait in round-robin order among lanes, FIFO within a lane, for ``units``; they are freed on exit."""
        units = max(1, min(units, self.size))
        await self._acquire(lane, units)
        try:
            yield
        finally:
            self._release(units)

    async def _acquire(self, lane: Hashable, units: int) -> None:
        if self._free >= units and not self._lanes:
            self._free -= units
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (units, waiter)
        self._lanes.setdefault(lane, deque()).append(entry)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(units)  # the units were handed over just as the caller gave up: pass them on
            else:
                self._forget(lane, entry)
                self._release(0)  # a heavy waiter at the head may have held back lighter ones behind it
            raise

    def _forget(self, lane: Hashable, entry: tuple[int, asyncio.Future[None]]) -> None:
        queue = self._lanes.get(lane)
        if queue is None:
            return
        with contextlib.suppress(ValueError):
            queue.remove(entry)
        if not queue:
            del self._lanes[lane]

    def _release(self, units: int) -> None:
        self._free += units
        while self._lanes:
            lane, queue = next(iter(self._lanes.items()))
            needed, waiter = queue[0]
            if waiter.done():  # cancelled while queued
                queue.popleft()
            elif needed <= self._free:
                queue.popleft()
                self._free -= needed
                waiter.set_result(None)
                if queue:
                    self._lanes.move_to_end(lane)  # this lane had its turn: the others go first
                    continue
            else:
                return  # the next in turn waits for enough units; nobody overtakes it, so it cannot starve
            if not queue:
                del self._lanes[lane]
