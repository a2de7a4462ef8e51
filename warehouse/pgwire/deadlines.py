"""Statement timeouts on one thread for the whole server.

A `threading.Timer` per statement started an OS thread for every query, and `Thread.start` waits until
the new thread has run: on a busy machine that wait landed in every query's latency (cProfile of a
session under load: about 2 ms of lock waits per statement). One thread keeps every deadline instead.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Deadlines:
    """Calls a callback when its deadline passes, unless cancelled first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._seq = itertools.count()
        threading.Thread(target=self._loop, name="statement-deadlines", daemon=True).start()

    def add(self, seconds: float, callback: Callable[[], None]) -> int:
        """Schedule `callback` in `seconds`; returns a token for `cancel`."""
        with self._cond:
            token = next(self._seq)
            heapq.heappush(self._heap, (time.monotonic() + seconds, token, callback))
            self._cond.notify()
            return token

    def cancel(self, token: int) -> None:
        with self._cond:
            if any(t == token for _, t, _ in self._heap[:1]):
                heapq.heappop(self._heap)  # the next one: drop it now
            else:
                self._cancelled.add(token)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] in self._cancelled:
                    self._cancelled.discard(heapq.heappop(self._heap)[1])
                if not self._heap:
                    self._cond.wait()
                    continue
                due = self._heap[0][0] - time.monotonic()
                if due > 0:
                    self._cond.wait(due)
                    continue
                _, _, callback = heapq.heappop(self._heap)
            callback()
