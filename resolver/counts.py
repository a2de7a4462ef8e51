"""Resolutions counted per local day, object type, outcome and audience; never who asked.

Counts accumulate in memory and are appended to catalog.identifier_resolution every flush interval
and when the resolver stops (one row per group and flush: the day's count is their sum).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from zoneinfo import ZoneInfo

import polars as pl

from warehouse.domain import TIMEZONE
from warehouse.registry import IDENTIFIER_RESOLUTION
from warehouse.storage import Lake

_TZ = ZoneInfo(TIMEZONE)


class ResolutionCounter:
    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._counts: Counter = Counter()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()

    def count(self, object_type: str, outcome: str, audience: str, n: int = 1) -> None:
        day = dt.datetime.now(_TZ).date()
        with self._lock:
            self._counts[(day, object_type, outcome, audience)] += n

    def pending(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def flush(self) -> int:
        """Commit what was counted since the last flush; the number of resolutions committed."""
        with self._flush_lock:
            with self._lock:
                counts, self._counts = self._counts, Counter()
            if not counts:
                return 0
            now = dt.datetime.now(dt.UTC)
            rows = [
                {
                    "day": day,
                    "object_type": kind,
                    "outcome": outcome,
                    "audience": audience,
                    "resolutions": n,
                    "flushed_at": now,
                }
                for (day, kind, outcome, audience), n in sorted(counts.items())
            ]
            df = pl.DataFrame(rows, schema=IDENTIFIER_RESOLUTION.schema)
            try:
                self.lake.append(IDENTIFIER_RESOLUTION, df, run_id="resolver")
            except Exception:
                with self._lock:  # keep them for the next flush
                    self._counts.update(counts)
                raise
            return int(df["resolutions"].sum())
