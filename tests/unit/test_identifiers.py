"""Identifier handles: the format, the parser's refusals (fuzzed), issuing once and keeping."""

import contextlib
import datetime as dt
import re

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.identifier.issue import changes, identified_objects, issue_identifiers
from tests.unit.helpers import typed
from warehouse.codes import make_uscc
from warehouse.identifiers import (
    HANDLE_PATTERN,
    TYPE_CODES,
    MalformedHandle,
    handle_for,
    parse_handle,
)
from warehouse.registry import DATA_PRODUCT, ENTERPRISE, EQUIPMENT, IDENTIFIER

ACME = make_uscc("370302", "AA000001")
BETA = make_uscc("370102", "AA000002")
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
T1 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


def test_handle_is_prefix_of_node_and_enterprise_then_object():
    assert handle_for("137", ACME, "enterprise", ACME) == f"88.137.{ACME}/ENT"
    assert handle_for("137", ACME, "equipment", "EQ100001") == f"88.137.{ACME}/EQ.EQ100001"
    assert handle_for("137", ACME, "line", "ST000001-A1-L2") == f"88.137.{ACME}/LN.ST000001-A1-L2"
    assert handle_for("137", ACME, "data_product", "DP00001") == f"88.137.{ACME}/DP.DP00001"


@pytest.mark.parametrize("key", ["EQ 1", "泵-1", "a.b", "x%y", "~tilde", "a/b"])
def test_keys_outside_the_safe_set_are_percent_encoded_and_round_trip(key):
    handle = handle_for("137", ACME, "equipment", key)
    assert re.match(HANDLE_PATTERN, handle), handle
    parsed = parse_handle(handle)
    assert (parsed.object_type, parsed.object_key, parsed.enterprise, parsed.node) == (
        "equipment",
        key,
        ACME,
        "137",
    )
    assert parsed.text == handle


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("88.137." + ACME, "no '/'"),
        ("86.137." + ACME + "/ENT", "top-level"),
        ("88.137/ENT", "88.<secondary node>.<enterprise code>"),
        ("88.1a7." + ACME + "/ENT", "1-8 digits"),
        ("88.137." + ACME[:-1] + "0/ENT", "uscc_check_char"),
        ("88.137.914403001922038216/XX.1", "object type"),
        ("88.137." + ACME + "/ENT.1", "ends in /ENT"),
        ("88.137." + ACME + "/EQ.", "object key missing"),
        ("88.137." + ACME + "/EQ.a b", "visible ASCII"),
        ("88.137." + ACME + "/EQ.a%2e", "A-Z a-z 0-9"),
        ("88.137." + ACME + "/EQ.a%41", "canonical"),
        ("88.137." + ACME + "/EQ.%FF", "UTF-8"),
        ("88.137." + ACME + "/EQ." + "a" * 300, "longer than"),
    ],
)
def test_malformed_handles_are_refused_with_a_reason(text, reason):
    with pytest.raises(MalformedHandle, match=re.escape(reason)):
        parse_handle(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), st.binary(max_size=64).map(lambda b: b.decode("latin-1"))))
def test_fuzz_any_text_parses_or_is_refused_with_malformed_handle(text):
    try:
        handle = parse_handle(text)
    except MalformedHandle as exc:
        assert str(exc)
        return
    assert handle.text == text  # what parses is canonical
    assert re.match(HANDLE_PATTERN, text)


_KEY = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    node=st.from_regex(r"\A[0-9]{1,8}\Z"),
    kind=st.sampled_from(sorted(TYPE_CODES)),
    key=_KEY,
    mutation=st.tuples(st.integers(0, 80), st.characters(codec="ascii")),
)
def test_fuzz_handles_round_trip_and_mutations_never_crash(node, kind, key, mutation):
    key = ACME if kind == "enterprise" else key
    try:
        handle = handle_for(node, ACME, kind, key)
    except ValueError:
        return
    if len(handle) > 255:
        with pytest.raises(MalformedHandle):
            parse_handle(handle)
        return
    assert parse_handle(handle).text == handle
    i, c = mutation
    mutated = handle[:i] + c + handle[i + 1 :]
    with contextlib.suppress(MalformedHandle):
        parse_handle(mutated)


def enterprises(*rows):
    return pl.DataFrame(
        [{"uscc": u, "status": s, "valid_to": None} for u, s in rows],
        schema={"uscc": pl.String, "status": pl.String, "valid_to": pl.Date},
    )


def equipment(*rows):
    return pl.DataFrame(
        [{"equipment_id": e, "uscc": u, "line_id": ln} for e, u, ln in rows],
        schema={"equipment_id": pl.String, "uscc": pl.String, "line_id": pl.String},
    )


def products(*rows):
    """(product id, provider USCC, registration number, revoked at) rows, none expired."""
    columns = ("product_id", "provider_uscc", "registration_no", "revoked_at", "expired_at")
    return typed(DATA_PRODUCT, columns, [(*r, None) for r in rows])


def objects_at(now, *, ent, eq, dp):
    return identified_objects(ent, eq, dp, now=now)


def test_every_enterprise_equipment_line_and_registered_product_gets_one_handle():
    objs = objects_at(
        T0,
        ent=enterprises((ACME, "active"), (BETA, "deregistered"), ("BAD", "active")),
        eq=equipment(("EQ1", ACME, "L1"), ("EQ2", ACME, "L1")),
        dp=products(("DP1", ACME, "REG-1", None), ("DP2", ACME, None, None)),
    )
    ids = issue_identifiers(pl.DataFrame(schema=IDENTIFIER.schema), objs, node="137", now=T0)
    assert ids.schema == IDENTIFIER.schema
    got = {(r["object_type"], r["object_key"]): r["status"] for r in ids.iter_rows(named=True)}
    assert got == {
        ("enterprise", ACME): "active",
        ("enterprise", BETA): "revoked",  # deregistered: its handle exists, revoked
        ("equipment", "EQ1"): "active",
        ("equipment", "EQ2"): "active",
        ("line", "L1"): "active",
        ("data_product", "DP1"): "active",  # DP2 was never registered: no handle (register first)
    }


def test_a_rebuild_keeps_every_handle_and_issued_at_even_with_another_node_code():
    ent = enterprises((ACME, "active"))
    first = issue_identifiers(
        pl.DataFrame(schema=IDENTIFIER.schema),
        objects_at(T0, ent=ent, eq=equipment(("EQ1", ACME, "L1")), dp=products()),
        node="137",
        now=T0,
    )
    # A day later: EQ1 is gone, EQ9 is new, the node setting changed; EQ1's handle stays, revoked.
    second = issue_identifiers(
        first, objects_at(T1, ent=ent, eq=equipment(("EQ9", ACME, "L1")), dp=products()), node="201", now=T1
    )
    before = {r["handle"]: r for r in first.iter_rows(named=True)}
    after = {r["handle"]: r for r in second.iter_rows(named=True)}
    assert set(before) <= set(after)
    for handle, row in before.items():
        assert (after[handle]["object_key"], after[handle]["issued_at"]) == (
            row["object_key"],
            row["issued_at"],
        )
    assert after[f"88.137.{ACME}/EQ.EQ1"]["status"] == "revoked"
    assert after[f"88.137.{ACME}/EQ.EQ1"]["revoked_at"] == T1
    assert after[f"88.201.{ACME}/EQ.EQ9"]["issued_at"] == T1  # new objects get the current node code
    assert changes(first, second) == {"issued": 1, "revoked": 1, "reactivated": 0, "active": 3}
    # The same inputs again: nothing changes at all (revoked_at kept too).
    third = issue_identifiers(
        second, objects_at(T1, ent=ent, eq=equipment(("EQ9", ACME, "L1")), dp=products()), node="201", now=T1
    )
    assert third.equals(second)


def test_a_revoked_registration_revokes_the_product_handle():
    ent = enterprises((ACME, "active"))
    first = issue_identifiers(
        pl.DataFrame(schema=IDENTIFIER.schema),
        objects_at(T0, ent=ent, eq=equipment(), dp=products(("DP1", ACME, "REG-1", None))),
        node="137",
        now=T0,
    )
    second = issue_identifiers(
        first,
        objects_at(T1, ent=ent, eq=equipment(), dp=products(("DP1", ACME, "REG-1", T1))),
        node="137",
        now=T1,
    )
    assert second.filter(pl.col("object_type") == "data_product")["status"].to_list() == ["revoked"]


def test_identified_objects_reads_the_registry_tables():
    assert {"uscc", "status", "valid_to"} <= set(ENTERPRISE.schema)
    assert {"equipment_id", "uscc", "line_id"} <= set(EQUIPMENT.schema)


def test_trades_carry_the_product_handle_issued_or_the_one_it_will_get():
    from assets.identifier.issue import product_handles

    prods = products(("DP1", ACME, "REG-1", None), ("DP2", BETA, "REG-2", None), ("DP3", ACME, None, None))
    issued = pl.DataFrame(
        [{"handle": f"88.101.{ACME}/DP.DP1", "object_type": "data_product", "object_key": "DP1"}],
        schema={k: IDENTIFIER.schema[k] for k in ("handle", "object_type", "object_key")},
    )
    got = dict(
        product_handles(
            prods.with_columns(pl.lit(None, pl.String).alias("title")), issued, node="137"
        ).iter_rows()
    )
    assert got == {"DP1": f"88.101.{ACME}/DP.DP1", "DP2": f"88.137.{BETA}/DP.DP2"}  # DP3 unregistered: none
