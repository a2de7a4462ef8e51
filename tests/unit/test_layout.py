"""The house rules that code review alone lets slip (issue 19): who may import whom, and thin assets."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_ASSET_BODY_LINES = 20  # read inputs, call plain functions, write, report: anything longer hides logic
# Bodies still over the limit, with their ceiling until their owners thin them (issue 19): none now.
OVER_THE_LIMIT: dict[str, int] = {}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_simulator_imports_contracts_and_reference_data_never_pipeline_internals():
    """The simulator stands in for the sources: it may share their contracts (warehouse.contracts,
    warehouse.uns, warehouse.domain), never what the pipeline does with them."""
    offending = {
        f"{p.relative_to(ROOT)}: {m}"
        for p in (ROOT / "simulator").rglob("*.py")
        for m in _imports(p)
        if m.split(".")[0] in {"assets", "quality", "orchestration"}
    }
    assert not offending, sorted(offending)


def _asset_bodies():
    for path in (ROOT / "assets").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any(
                "asset" in ast.unparse(d) for d in node.decorator_list
            ):
                body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body  # docstring
                yield f"{path.relative_to(ROOT)}::{node.name}", body[-1].end_lineno - body[0].lineno + 1


def test_asset_bodies_stay_thin():
    bodies = dict(_asset_bodies())
    assert len(bodies) > 20  # the walk found the assets
    fat = {name: n for name, n in bodies.items() if n > OVER_THE_LIMIT.get(name, MAX_ASSET_BODY_LINES)}
    assert not fat, fat
    thin_now = {name for name in OVER_THE_LIMIT if bodies.get(name, 0) <= MAX_ASSET_BODY_LINES}
    assert not thin_now, f"drop these from OVER_THE_LIMIT: {sorted(thin_now)}"


# The lineage view lays groups out in this order; an asset may only read from its own group or an earlier one.
GROUP_ORDER = (
    "bronze",
    "silver",
    "quarantine",
    "theme",
    "energy_reports",
    "industry",
    "graph",
    "sync",
    "plan",
    "catalog",
)


def test_asset_groups_follow_the_datas_direction_and_link_to_their_source():
    from orchestration.definitions import ALL_ASSETS

    group = {k: a.group_names_by_key[k] for a in ALL_ASSETS for k in a.keys}
    assert set(group.values()) <= set(GROUP_ORDER), set(group.values()) - set(GROUP_ORDER)
    backward = [
        f"{key.to_user_string()} ({group[key]}) reads {dep.to_user_string()} ({group[dep]})"
        for a in ALL_ASSETS
        for key in a.keys
        for dep in a.asset_deps.get(key, ())
        if dep in group and GROUP_ORDER.index(group[dep]) > GROUP_ORDER.index(group[key])
    ]
    assert not backward, backward
    unlinked = [
        k for a in ALL_ASSETS for k in a.keys if "dagster/code_references" not in a.specs_by_key[k].metadata
    ]
    assert not unlinked, unlinked
