"""The national sync as a Dagster asset: one local day released, sent to the national node, acknowledged."""

import datetime as dt

import httpx
from dagster import (
    AssetExecutionContext,
    AssetObservation,
    AssetSpec,
    ConfigurableResource,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from assets.metadata import asset_spec
from assets.partitions import daily_local
from assets.resources import LakeResource, WarehouseResource
from assets.sync.measures import DISCLOSURE_THRESHOLD, DOMINANCE_K, DOMINANCE_N, MEASURES
from assets.sync.sync import SyncOutcome, refresh_after_sync, sync_day
from assets.sync.transport import NodeConfig
from warehouse.domain import GRADES, PROVINCE_CODE
from warehouse.registry import ENERGY_DAILY, EQUIPMENT_DAILY, SYNC_LEDGER, TABLES, THEME_ENTERPRISE, TRADE
from warehouse.settings import SyncKey, load_settings
from warehouse.storage import Lake


class NationalNodeResource(ConfigurableResource):
    """The national node's URL and this province's signing key; empty fields come from the settings
    (LAKEHOUSE_SYNC_NODE_URL, LAKEHOUSE_SYNC_KEY or the home's demo key) when a run uses them."""

    url: str = ""
    key_id: str = ""
    secret: str = ""
    province: str = PROVINCE_CODE
    timeout_s: float = 10.0
    max_attempts: int = 6

    def config(self) -> NodeConfig:
        s = load_settings()
        key = SyncKey(self.key_id, self.secret) if self.secret else s.sync_key()
        return NodeConfig(
            url=self.url or s.sync_node_url,
            key_id=key.key_id,
            secret=key.secret,
            province=self.province,
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
        )


def _measures_md() -> MetadataValue:
    lines = ["| measure | unit | group | grade | released |", "|---|---|---|---|---|"]
    for m in MEASURES:
        rule = {
            1: "as is",
            2: f"cells of >= {DISCLOSURE_THRESHOLD} {m.group.respondents}, top {DOMINANCE_N} <= "
            f"{DOMINANCE_K:.0%} of the total, complementary suppression",
            3: "never",
        }[m.grade]
        lines.append(f"| {m.name} | {m.unit} | {m.group.name} | {m.grade} ({GRADES[m.grade]}) | {rule} |")
    return MetadataValue.md("\n".join(lines))


def _send_day(
    day: dt.date, store: Lake, warehouse: WarehouseResource, national_node: NationalNodeResource, run_id: str
) -> SyncOutcome:
    """sync_day over the analyst role file (one snapshot of the themes) and one HTTP client."""
    con = warehouse.connect(read_only=True)
    try:
        with httpx.Client() as client:
            config = national_node.config()
            privacy = load_settings().sync_privacy(config.channel)
            return sync_day(
                day, lake=store, con=con, client=client, node=config, run_id=run_id, privacy=privacy
            )
    finally:
        con.close()


@multi_asset(
    name="national_batch",
    specs=[
        AssetSpec(
            ["sync", "national_batch"],
            group_name="sync",
            description="One local day's aggregates released to the national center (city x industry, "
            "margins, suppressed by grade and against the versions the node holds), signed, delivered and "
            "recorded in catalog.sync_ledger.",
            deps=[
                ENERGY_DAILY.asset_key,
                EQUIPMENT_DAILY.asset_key,
                TRADE.asset_key,
                THEME_ENTERPRISE.asset_key,
            ],
            skippable=True,
            kinds={"duckdb", "arrow"},
            owners=[f"team:{SYNC_LEDGER.owner}"],
            tags={"domain": SYNC_LEDGER.domain, "grade": "2"},
            metadata={
                "ledger": SYNC_LEDGER.name,
                "measures": _measures_md(),
                "disclosure_threshold": DISCLOSURE_THRESHOLD,
                "dominance_rule": f"({DOMINANCE_N}, {DOMINANCE_K:.0%})",
            },
            partitions_def=daily_local,
        ),
        # The ledger is written by this asset and no other: declared here, so the UI has no stub for it.
        asset_spec(SYNC_LEDGER, partitions_def=daily_local).replace_attributes(group_name="sync"),
    ],
    pool="national_sync",
)
def national_batch(
    context: AssetExecutionContext,
    lake: LakeResource,
    warehouse: WarehouseResource,
    national_node: NationalNodeResource,
):
    """Skips (ledger: skipped, with the reason) a day whose blocking checks failed or whose theme is missing."""
    day = dt.date.fromisoformat(context.partition_key)
    store = lake.lake
    warehouse.refresh(store)  # views first: a moved or restored home reads its own tables from the start
    outcome = _send_day(day, store, warehouse, national_node, context.run_id)
    for table in refresh_after_sync(store, context.run_id):  # the directory shows the sync right away
        context.log_event(
            AssetObservation(asset_key=TABLES[table].asset_key, metadata={"refreshed_by": "sync"})
        )
    warehouse.refresh(store)
    yield MaterializeResult(
        asset_key=SYNC_LEDGER.asset_key,
        metadata={
            "status": outcome.status,
            "version": outcome.version or 0,
            "delta_version": store.version(SYNC_LEDGER),
        },
    )
    if outcome.status in ("skipped", "held"):
        context.log.warning(f"{day} not released to the national center: {outcome.message}")
        return
    if outcome.status == "failed":
        raise Failure(description=f"{day}: {outcome.message}", metadata=outcome.metadata())
    yield MaterializeResult(asset_key=["sync", "national_batch"], metadata=outcome.metadata())
