from warehouse.domain import DATA_DOMAINS, GRADES
from warehouse.registry import TABLES, validate_registry


def test_every_table_declares_domain_grade_and_valid_partitioning():
    assert validate_registry() == []


def test_every_table_and_column_has_a_grade_and_description():
    for t in TABLES.values():
        assert t.domain in DATA_DOMAINS and t.grade in GRADES, t.name
        assert t.description and t.owner
        for c in t.columns:
            assert c.grade in GRADES and c.description, f"{t.name}.{c.name}"


def test_registry_check_catches_a_table_without_domain():
    from dataclasses import replace

    bad = replace(TABLES["silver.telemetry"], domain="", grade=7)
    problems = validate_registry({"silver.telemetry": bad})
    assert any("domain" in p for p in problems) and any("grade" in p for p in problems)
