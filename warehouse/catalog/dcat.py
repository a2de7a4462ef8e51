"""The directory as a DCAT-style JSON catalog (dcat, dct, prov, dqv, csvw), for the national directory."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from warehouse.domain import GRADES


def dcat(
    datasets: pl.DataFrame, columns: pl.DataFrame, publisher: str, products: pl.DataFrame | None = None
) -> dict:
    """A DCAT-style JSON catalog the national directory could ingest (one dcat:Dataset per table, and one
    per registered data product, identified by its handle, when `products` (registered_products) is given)."""
    items = []
    for d in datasets.iter_rows(named=True):
        cols = columns.filter(pl.col("table_name") == d["table_name"])
        items.append(
            {
                "@type": "dcat:Dataset",
                "dct:identifier": d["table_name"],
                "dct:title": d["table_name"],
                "dct:description": d["description"],
                "dct:publisher": publisher,
                "dcat:contactPoint": d["owner"],
                "dcat:theme": d["data_domain"],
                "dcat:keyword": [d["layer"], d["data_domain"], f"grade-{d['grade']}"],
                "dct:accessRights": f"grade {d['grade']} ({GRADES[d['grade']]}; {d['grade_tier']})",
                "dct:modified": d["updated_at"].isoformat() if d["updated_at"] else None,
                "dcat:temporalResolution": "P1D" if d["partition_by"] in ("day", "landing_date") else None,
                "dct:extent": {"rows": d["row_count"], "bytes": d["size_bytes"]},
                "prov:wasDerivedFrom": d["upstream"],
                "dqv:hasQualityMeasurement": {
                    "dqv:value": d["pass_rate"],
                    "dqv:isMeasurementOf": "pass_rate",
                },
                "dcat:distribution": [
                    {
                        "@type": "dcat:Distribution",
                        "dcat:accessService": "DuckDB view",
                        "dct:format": "Delta Lake",
                        "dct:identifier": d["table_name"],
                    }
                ],
                "csvw:tableSchema": {
                    "columns": [
                        {
                            "name": c["column_name"],
                            "datatype": c["data_type"],
                            "dct:description": c["description"],
                            "grade": c["grade"],
                        }
                        for c in cols.iter_rows(named=True)
                    ]
                },
            }
        )
    for p in (products if products is not None else pl.DataFrame()).iter_rows(named=True):
        items.append(
            {
                "@type": "dcat:Dataset",
                "dct:identifier": p["handle"],
                "dct:title": p["title"],
                "dct:publisher": p["provider_handle"],
                "dct:accessRights": f"grade {p['grade']}",
                "dcat:keyword": ["data product", f"registration {p['registration_no']}", p["status"]],
            }
        )
    return {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "prov": "http://www.w3.org/ns/prov#",
            "dqv": "http://www.w3.org/ns/dqv#",
            "csvw": "http://www.w3.org/ns/csvw#",
        },
        "@type": "dcat:Catalog",
        "dct:publisher": publisher,
        "dcat:dataset": items,
    }


def export_dcat(
    datasets: pl.DataFrame,
    columns: pl.DataFrame,
    path: Path,
    publisher: str,
    products: pl.DataFrame | None = None,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(dcat(datasets, columns, publisher, products), ensure_ascii=False, indent=1, default=str),
        encoding="utf-8",
    )
    return path
