"""How a day's records become the bytes of each gateway format: CSV (UTF-8, BOM or GB18030), JSON Lines,
Parquet, and the files the pipeline must reject whole; and the plain CSV the other landing files use.

Input frames hold one row per record with the gateway `g`, the defect `kind` and `choice`, the contract
fields as landed text and `num` (the value's text), sorted by gateway.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.defect_kinds import K
from warehouse.contracts import TELEMETRY_FIELDS as FIELDS

REMARKS = ("正常", "正常", "正常", "检修", "待机", "停机检查")


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """A plain landing CSV (production, energy reports, trading, supplier links): UTF-8, LF, a header row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def csv_bodies(
    part: pl.DataFrame, day: int, bom: set[tuple[int, int]], gbk: set[tuple[int, int]]
) -> dict[int, tuple[bytes, int]]:
    """CSV bodies per gateway: UTF-8, some with a BOM (`bom`), some in GB18030 with a Chinese `remark`
    column (`gbk`); both sets hold (gateway, day)."""
    kind = pl.col("kind")
    value = (
        pl.when(kind == K["nan_value"])
        .then(pl.when(pl.col("choice") % 2 == 0).then(pl.lit("")).otherwise(pl.lit("NaN")))
        .when((kind == K["bad_value"]) & pl.col("num").str.contains(",", literal=True))
        .then(pl.concat_str(pl.lit('"'), pl.col("num"), pl.lit('"')))
        .otherwise(pl.col("num"))
    )
    gbk_gateways = sorted(gw for gw, d in gbk if d == day)
    remark = pl.Series(REMARKS).gather((part["t"] + part["s"]).to_numpy() % len(REMARKS))
    part = part.with_columns(value_csv=value, remark=remark)
    line = pl.concat_str([pl.col(c) for c in (*FIELDS[:4], "value_csv", "unit")], separator=",")
    line = (
        pl.when(pl.col("g").is_in(gbk_gateways))
        .then(pl.concat_str(line, pl.col("remark"), separator=","))
        .otherwise(line)
    )
    part = part.with_columns(line=line)
    rows = np.flatnonzero(part["kind"].to_numpy() == K["malformed_line"])
    if rows.size:  # a line cut after 2-5 of its fields
        cut = part[rows].select(*FIELDS[:4], "value_csv", "choice")
        texts = [",".join(r[: 2 + r[-1] % 4]) for r in cut.iter_rows()]
        part = part.with_columns(line=part["line"].scatter(rows, pl.Series(texts, dtype=pl.String)))
    out = {}
    header = ",".join(FIELDS)
    for gw, body, n in _bodies(part):
        if gw in gbk_gateways:
            out[gw] = (f"{header},remark\n{body}\n".encode("gb18030"), n)
        else:
            mark = b"\xef\xbb\xbf" if (gw, day) in bom else b""
            out[gw] = (mark + f"{header}\n{body}\n".encode(), n)
    return out


def jsonl_bodies(part: pl.DataFrame) -> dict[int, tuple[bytes, int]]:
    """JSON Lines bodies per gateway: value a JSON number, null or a string when defective."""
    kind = pl.col("kind")
    value = (
        pl.when(kind == K["nan_value"])
        .then(pl.when(pl.col("choice") % 2 == 0).then(pl.lit("null")).otherwise(pl.lit('"NaN"')))
        .when(kind == K["bad_value"])
        .then(pl.concat_str(pl.lit('"'), pl.col("num"), pl.lit('"')))
        .otherwise(pl.col("num"))
    )
    pieces = []
    for i, f in enumerate(FIELDS):
        pieces.append(pl.lit(("{" if i == 0 else ",") + f'"{f}":' + ("" if f == "value" else '"')))
        pieces.append(value if f == "value" else pl.col(f))
        if f != "value":
            pieces.append(pl.lit('"'))
    part = part.with_columns(line=pl.concat_str([*pieces, pl.lit("}")]))
    rows = np.flatnonzero(part["kind"].to_numpy() == K["malformed_line"])
    if rows.size:  # a line broken off before its closing brace
        cut = part[rows].select("line", "choice")
        texts = [line[: 1 + c * (len(line) - 2) // 65536] for line, c in cut.iter_rows()]
        part = part.with_columns(line=part["line"].scatter(rows, pl.Series(texts, dtype=pl.String)))
    return {gw: (f"{body}\n".encode(), n) for gw, body, n in _bodies(part)}


def parquet_bodies(part: pl.DataFrame, formats: np.ndarray) -> dict[int, tuple[bytes, int]]:
    """Parquet files per gateway whose format is parquet, from a frame sorted by gateway."""
    part = part.with_columns(value=parquet_value())
    bounds = np.searchsorted(part["g"].to_numpy(), np.arange(len(formats) + 1))
    out = {}
    for gw in np.flatnonzero(formats == "parquet"):
        lo, hi = int(bounds[gw]), int(bounds[gw + 1])
        out[int(gw)] = (parquet_bytes(part.slice(lo, hi - lo)), hi - lo)
    return out


def _bodies(part: pl.DataFrame) -> list[tuple[int, str, int]]:
    """(gateway, lines joined by newlines, number of lines) for a frame sorted by gateway."""
    bodies = part.group_by("g", maintain_order=True).agg(pl.col("line").str.join("\n"), pl.len())
    return list(bodies.select("g", "line", "len").iter_rows())


def parquet_value() -> pl.Expr:
    """Parquet `value`: the number as text, null or "NaN" when missing, the bad text as is."""
    return (
        pl.when(pl.col("kind") == K["nan_value"])
        .then(pl.when(pl.col("choice") % 2 == 0).then(pl.lit(None, pl.String)).otherwise(pl.lit("NaN")))
        .otherwise(pl.col("num"))
    )


def parquet_bytes(rows: pl.DataFrame) -> bytes:
    """The six contract fields as strings (nulls allowed), so that any defect is representable."""
    table = rows.select(FIELDS).to_arrow().cast(pa.schema([(f, pa.string()) for f in FIELDS]))
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy")
    return buf.getvalue()


def rejected_payload(reason: str, rows: pl.DataFrame) -> tuple[int, bytes]:
    """Bytes of a file the pipeline must reject as a whole, and the records it carries."""
    if reason == "empty_file":
        return 0, b""
    rows = rows.with_columns(value=parquet_value().fill_null("").str.replace_all(",", ".", literal=True))
    if reason == "unreadable_parquet":
        data = parquet_bytes(rows)
        return rows.height, data[: len(data) // 2]
    lines = rows.select(pl.concat_str([pl.col(c) for c in FIELDS[:5]], separator=",")).to_series()
    header = ",".join(f for f in FIELDS if f != "unit")
    return rows.height, ("\n".join([header, *lines.to_list()]) + "\n").encode("utf-8")
