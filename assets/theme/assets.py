"""Theme library assets of telemetry: theme.energy_daily and theme.equipment_daily.

They are built with silver.telemetry in one sharded day build (assets/telemetry/assets.py,
`build_telemetry_day`): every shard computes its equipment's energy and operating figures from the
silver rows it just made (assets/theme/energy.py), so the day's readings are not read back. This module
stays as the code location's home for telemetry-derived theme assets and holds none of its own now.
"""
