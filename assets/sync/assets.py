"""The sync as a Dagster multi-asset: one local day released to each selected channel (the national center,
industry nodes; warehouse.registry.SYNC_CHANNELS), sent, acknowledged. Each channel's batch is its own
asset, so a schedule per channel (its cadence) selects it with the ledger."""

import datetime as dt

import httpx
from dagster import (
    AssetExecutionContext,
    AssetKey,
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
from assets.sync.channels import channel_measures, node_config, targets
from assets.sync.measures import DISCLOSURE_THRESHOLD, DOMINANCE_K, DOMINANCE_N, MEASURES, Measure
from assets.sync.sync import SyncOutcome, refresh_after_sync, sync_day_to
from assets.sync.transport import NodeConfig
from warehouse.domain import GRADES, PROVINCE_CODE
from warehouse.registry import (
    ENERGY_DAILY,
    EQUIPMENT_DAILY,
    SYNC_CHANNELS,
    SYNC_LEDGER,
    TABLES,
    THEME_ENTERPRISE,
    TRADE,
    SyncChannel,
)
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


def _measures_md(measures: tuple[Measure, ...] = MEASURES) -> MetadataValue:
    lines = ["| measure | unit | group | grade | released |", "|---|---|---|---|---|"]
    for m in measures:
        rule = {
            1: "as is",
            2: f"cells of >= {DISCLOSURE_THRESHOLD} {m.group.respondents}, top {DOMINANCE_N} <= "
            f"{DOMINANCE_K:.0%} of the total, complementary suppression",
            3: "never",
        }[m.grade]
        lines.append(f"| {m.name} | {m.unit} | {m.group.name} | {m.grade} ({GRADES[m.grade]}) | {rule} |")
    return MetadataValue.md("\n".join(lines))


def _send_day(
    day: dt.date,
    store: Lake,
    warehouse: WarehouseResource,
    asked: list[NodeConfig],
    run_id: str,
) -> list[SyncOutcome]:
    """The day to the nodes asked for and to every other channel's node that received it (a restatement
    reaches them all), over the analyst role file (one snapshot of the themes) and one HTTP client."""
    s = load_settings()
    con = warehouse.connect(read_only=True)
    try:
        with httpx.Client() as client:
            nodes = targets(store, day.isoformat(), asked, s)
            return sync_day_to(
                day, nodes, lake=store, con=con, client=client, run_id=run_id, privacy=s.sync_privacy
            )
    finally:
        con.close()


def batch_key(channel: SyncChannel) -> AssetKey:
    return AssetKey(["sync", f"{channel.name}_batch"])


def _batch_spec(channel: SyncChannel) -> AssetSpec:
    """One channel's batch: its contract in the UI (divisions, measures, grade, cadence)."""
    sent = channel_measures(channel)
    return AssetSpec(
        batch_key(channel),
        group_name="sync",
        description=f"{channel.description} One local day's aggregates (city x industry, suppressed by "
        "grade and against the versions the node holds), cut to the channel's contract, signed, delivered "
        "and recorded in catalog.sync_ledger.",
        deps=[ENERGY_DAILY.asset_key, EQUIPMENT_DAILY.asset_key, TRADE.asset_key, THEME_ENTERPRISE.asset_key],
        skippable=True,
        kinds={"duckdb", "arrow"},
        owners=[f"team:{SYNC_LEDGER.owner}"],
        tags={
            "domain": SYNC_LEDGER.domain,
            "grade": str(max(m.grade for m in sent)),
            "channel": channel.name,
        },
        metadata={
            "ledger": SYNC_LEDGER.name,
            "channel": channel.name,
            "divisions": ", ".join(channel.divisions),
            "libraries": ", ".join(channel.libraries) or "all",
            "highest_grade": channel.max_grade,
            "cadence": channel.cadence,
            "measures": _measures_md(sent),
            "disclosure_threshold": DISCLOSURE_THRESHOLD,
            "dominance_rule": f"({DOMINANCE_N}, {DOMINANCE_K:.0%})",
        },
        partitions_def=daily_local,
    )


def _asked(context: AssetExecutionContext, national_node: NationalNodeResource) -> list[NodeConfig]:
    """The selected channels' nodes: the national one from its resource, industry nodes configured in the
    settings (LAKEHOUSE_SYNC_<CHANNEL>_NODE_URL); a selected industry channel without a URL is skipped."""
    s = load_settings()
    selected = {k for k in context.selected_asset_keys}
    out = []
    for channel in SYNC_CHANNELS.values():
        if batch_key(channel) not in selected:
            continue
        if not channel.industry:
            out.append(national_node.config())
        elif s.sync_node_url_of(channel.name):
            out.append(node_config(s, channel.name))
        else:
            context.log.info(f"channel {channel.name}: no node URL configured, nothing sent")
    return out


@multi_asset(
    name="sync_batches",
    specs=[
        *(_batch_spec(c) for c in SYNC_CHANNELS.values()),
        # The ledger is written by this asset and no other: declared here, so the UI has no stub for it.
        asset_spec(SYNC_LEDGER, partitions_def=daily_local).replace_attributes(group_name="sync"),
    ],
    can_subset=True,
    pool="national_sync",
)
def sync_batches(
    context: AssetExecutionContext,
    lake: LakeResource,
    warehouse: WarehouseResource,
    national_node: NationalNodeResource,
):
    """Each selected channel's day; skips (ledger: skipped, with the reason) a day whose blocking checks
    failed or whose theme is missing. Other channels that received the day get its restatement too
    (observed on their asset)."""
    day = dt.date.fromisoformat(context.partition_key)
    store = lake.lake
    warehouse.refresh(store)  # views first: a moved or restored home reads its own tables from the start
    outcomes = _send_day(day, store, warehouse, _asked(context, national_node), context.run_id)
    for table in refresh_after_sync(store, context.run_id):  # the directory shows the sync right away
        context.log_event(
            AssetObservation(asset_key=TABLES[table].asset_key, metadata={"refreshed_by": "sync"})
        )
    warehouse.refresh(store)
    if AssetKey(SYNC_LEDGER.asset_key) in context.selected_asset_keys:
        yield MaterializeResult(
            asset_key=SYNC_LEDGER.asset_key,
            metadata={
                "status": ", ".join(f"{o.channel}: {o.status}" for o in outcomes) or "nothing sent",
                "version": max((o.version or 0 for o in outcomes), default=0),
                "delta_version": store.version(SYNC_LEDGER),
            },
        )
    yield from _report(context, day, outcomes)


def _report(context: AssetExecutionContext, day: dt.date, outcomes: list[SyncOutcome]):
    """A materialization per selected channel sent to (an observation for a channel only restated), a
    warning per day not released, and a Failure naming every node that failed."""
    failed = []
    for o in outcomes:
        key = batch_key(SYNC_CHANNELS[o.channel])
        if o.status in ("skipped", "held"):
            context.log.warning(f"{day} not released to {o.channel} ({o.node}): {o.message}")
        elif o.status == "failed":
            failed.append(o)
        elif key in context.selected_asset_keys:
            yield MaterializeResult(asset_key=key, metadata=o.metadata())
        else:
            context.log_event(AssetObservation(asset_key=key, metadata=o.metadata()))
    if failed:
        raise Failure(
            description="; ".join(f"{day} {o.channel} ({o.node}): {o.message}" for o in failed),
            metadata=failed[0].metadata(),
        )
