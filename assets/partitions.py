"""Partitions, defined once: the local day (Asia/Shanghai) every report is made of."""

from dagster import DailyPartitionsDefinition

from warehouse.domain import TIMEZONE
from warehouse.settings import settings

# end_offset=1: today's (partial) local day is a partition too, so records landing today can be built.
daily_local = DailyPartitionsDefinition(
    start_date=settings().partitions_start.isoformat(), timezone=TIMEZONE, end_offset=1
)
