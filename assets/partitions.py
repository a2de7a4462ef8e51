"""Partitions, defined once: the local day (Asia/Shanghai) every report is made of."""

from dagster import DailyPartitionsDefinition

from warehouse.domain import TIMEZONE
from warehouse.settings import settings

daily_local = DailyPartitionsDefinition(start_date=settings().partitions_start.isoformat(), timezone=TIMEZONE)
