"""quality.gx on small frames: outcomes map back to rule ids, failures carry counts and samples, docs exist."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from quality.gx import build_data_docs, validate_partition
from quality.rules import Expectation, Rule

TABLE = "silver.telemetry"
FLAGS = ["good", "uncertain", "bad"]
RULES = [
    Rule(
        "ts_present",
        TABLE,
        "ts",
        expectation=Expectation("ExpectColumnValuesToNotBeNull", {"column": "ts_utc"}),
    ),
    Rule("row_only", TABLE, "no expectation: ignored by GX", row_check=lambda: pl.lit(True)),
    Rule(
        "value_present",
        TABLE,
        "value",
        expectation=Expectation("ExpectColumnValuesToNotBeNull", {"column": "value"}),
    ),
    Rule(
        "flag_known",
        TABLE,
        "flag",
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet", {"column": "quality_flag", "value_set": FLAGS}
        ),
    ),
    Rule(
        "key_unique",
        TABLE,
        "key",
        expectation=Expectation(
            "ExpectCompoundColumnsToBeUnique", {"column_list": ["equipment_id", "ts_utc"]}
        ),
    ),
    Rule(
        "value_range",
        TABLE,
        "range",
        expectation=Expectation("ExpectColumnValuesToBeBetween", {"column": "value", "min_value": 0}),
    ),
]
IDS = ["ts_present", "value_present", "flag_known", "key_unique", "value_range"]


def frame(values: list[float | None], flags: list[str]) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame(
        {
            "equipment_id": [f"EQ{i}" for i in range(n)],
            "ts_utc": [datetime(2024, 1, 1, i, tzinfo=UTC) for i in range(n)],
            "value": values,
            "unit": ["kW"] * n,
            "quality_flag": flags,
        },
        schema_overrides={"ts_utc": pl.Datetime("us", "UTC"), "value": pl.Float64, "quality_flag": pl.String},
    )


def docs_path(url: str) -> Path:
    assert url.startswith("file://")
    return Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))


def test_passing_frame_has_docs_page_and_run_name(tmp_path: Path) -> None:
    out = validate_partition(tmp_path, TABLE, "2024-01-01", frame([1.0, 2.0, 3.0], FLAGS), RULES, "run-a")

    assert out.success
    assert [o.rule_id for o in out.outcomes] == IDS
    assert all(o.success and o.evaluated == 3 and o.failed == 0 and o.sample == [] for o in out.outcomes)
    assert out.docs_url is not None and docs_path(out.docs_url).is_file()
    assert "validations" in out.docs_url  # the result's own page, not only the index
    stored = list((tmp_path / "gx" / "uncommitted" / "validations").rglob("*.json"))
    assert [json.loads(p.read_text())["meta"]["run_id"]["run_name"] for p in stored] == ["2024-01-01:run-a"]


def test_failing_frame_maps_counts_and_samples_to_rule_ids(tmp_path: Path) -> None:
    df = frame([1.0, None, -5.0, 4.0], ["good", "weird", "bad", "weird"])
    out = validate_partition(tmp_path, TABLE, "2024-01-02", df, RULES, "run-b")

    by_id = {o.rule_id: o for o in out.outcomes}
    assert not out.success
    assert by_id["ts_present"].success and by_id["key_unique"].success
    assert (by_id["value_present"].success, by_id["value_present"].failed) == (False, 1)
    assert by_id["value_present"].sample == [None]
    assert (by_id["flag_known"].failed, by_id["flag_known"].sample) == (2, ["weird", "weird"])
    assert (by_id["value_range"].failed, by_id["value_range"].sample) == (1, [-5.0])
    assert all(o.evaluated == 4 for o in out.outcomes)


def test_empty_frame_does_not_raise(tmp_path: Path) -> None:
    out = validate_partition(tmp_path, TABLE, "2024-01-03", frame([], []), RULES, "run-c")

    assert [o.rule_id for o in out.outcomes] == IDS
    assert all(o.evaluated == 0 and o.failed == 0 and o.error is None for o in out.outcomes)
    assert out.docs_url is not None and docs_path(out.docs_url).is_file()


def test_without_docs_and_with_changed_rules(tmp_path: Path) -> None:
    df = frame([1.0, 2.0], ["good", "good"])
    assert validate_partition(tmp_path, TABLE, "p", df, RULES, "r1", build_docs=False).docs_url is None

    # Same expectation on two rules, and a column that is missing: the suite is updated in place.
    rules = [*RULES, Rule("twin", TABLE, "same as value_present", expectation=RULES[2].expectation)]
    rules.append(
        Rule("gone", TABLE, "", expectation=Expectation("ExpectColumnValuesToNotBeNull", {"column": "x"}))
    )
    out = validate_partition(tmp_path, TABLE, "p", df, rules, "r2", build_docs=False)

    by_id = {o.rule_id: o for o in out.outcomes}
    assert by_id["twin"].success and by_id["value_present"].success
    assert not out.success and not by_id["gone"].success
    assert by_id["gone"].error and "x" in by_id["gone"].error and by_id["gone"].failed == 1


@pytest.mark.parametrize("rules", [[], [RULES[1]]])
def test_no_expectations_is_a_pass(tmp_path: Path, rules: list[Rule]) -> None:
    out = validate_partition(tmp_path, TABLE, "p", frame([1.0], ["good"]), rules, "r")
    assert out.success and out.outcomes == [] and out.docs_url is None


def test_docs_can_be_built_later(tmp_path: Path) -> None:
    validate_partition(
        tmp_path, TABLE, "2024-01-04", frame([1.0], ["good"]), RULES, "run-d", build_docs=False
    )
    url = build_data_docs(tmp_path)
    assert url is not None and docs_path(url).is_file()
    assert list((docs_path(url).parent / "validations").rglob("*.html"))


def test_a_table_added_by_another_process_is_kept_when_this_one_adds_its_own(tmp_path: Path) -> None:
    """This process re-reads great_expectations.yml before adding a table only when the file changed
    since it last saw it; when another process has added a table meanwhile, it re-reads and keeps it."""
    from quality.gx import DATASOURCE, _open

    df = frame([1.0], ["good"])
    validate_partition(tmp_path, "t.first", "p", df, RULES, "r1", build_docs=False)
    other = _open(tmp_path.resolve())  # a second process's context on the same home
    other.data_sources.get(DATASOURCE).add_dataframe_asset("t.other")
    validate_partition(tmp_path, "t.second", "p", df, RULES, "r2", build_docs=False)
    validate_partition(tmp_path, "t.third", "p", df, RULES, "r3", build_docs=False)  # no re-read needed
    assets = {a.name for a in _open(tmp_path.resolve()).data_sources.get(DATASOURCE).assets}
    assert {"t.first", "t.other", "t.second", "t.third"} <= assets
