"""Many landing files parsed in a few polars calls: one per format and CSV header (or Parquet schema),
not one per file.

A landing file is small (~2,000 records) and a polars call over it costs about as much in set-up as in
parsing, so the clean files of one format are joined, read in one call and cut back into files by their
line counts (Parquet files by their footers' row counts). Only the common shape is read so: a file that
has anything else (a CSV holding a double quote, a JSON line that is not one object, a blank line, a
header without the contract's fields, Parquet columns named otherwise or nested, bytes that are not text)
or whose joined read fails is read alone by `read_landing_file`, so that its rows, notes and rejection
reason are exactly those of a file read alone.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from assets.telemetry.formats import (
    FIELDS,
    OPTIONAL_FIELDS,
    LandedFile,
    RejectedFile,
    byte_count,
    csv_layout,
    exact_csv_records,
    extra_keys_of,
    extra_note,
    fields_filled,
    only_field_values,
    parquet_records,
    plain_csv_records,
    split_csv,
    trim_trailing_blank_lines,
)
from assets.telemetry.landing import (
    LandingEntry,
    content_hash,
    decode_utf8,
    read_landing_file,
    read_regular_file,
    with_optional_fields,
)

Item = tuple[Path, str, bytes]  # a landing file: path, name (relative to landing/), content
Parsed = LandedFile | RejectedFile
_JSON_SCHEMA = dict.fromkeys(FIELDS, pl.String)


def read_landing_files(items: Sequence[Item]) -> list[Parsed]:
    """`read_landing_file` of each item, in order: its LandedFile, or the RejectedFile it raises."""
    out: list[Parsed | None] = [None] * len(items)
    jsonl: list[tuple[int, str, bytes]] = []  # (item index, text, its UTF-8 bytes)
    csv_bodies: dict[str, list[tuple[int, bytes]]] = {}  # header line -> (item index, body as UTF-8)
    parquet: list[tuple[int, bytes]] = []
    for i, (path, name, data) in enumerate(items):
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            parquet.append((i, data))
            continue
        if suffix not in (".jsonl", ".csv") or not data.strip():
            continue
        try:
            text, utf8 = decode_utf8(data, name)
        except RejectedFile:
            continue  # read alone below, which rejects it with its own name
        utf8 = text.encode() if utf8 is None else utf8
        if suffix == ".jsonl":
            jsonl.append((i, text, utf8))
        elif (plain := _plain_csv(text, utf8)) is not None:
            csv_bodies.setdefault(plain[0], []).append((i, plain[1]))
    if jsonl:
        _jsonl_batch(jsonl, out)
    for header_line, bodies in csv_bodies.items():
        _csv_batch(header_line, bodies, items, out)
    if parquet:
        _parquet_batch(parquet, out)
    for i, (path, name, data) in enumerate(items):
        if out[i] is None:
            out[i] = read_alone(path, name, data)
    return out  # type: ignore[return-value]  # every slot is filled above


def _plain_csv(text: str, utf8: bytes) -> tuple[str, bytes] | None:
    """(header line, body) of a CSV text as `parse_csv` cuts them, the body as UTF-8 bytes (polars takes
    them as they are; a str would be encoded again); None unless the body is there and holds no quote."""
    trimmed = trim_trailing_blank_lines(text)
    if not trimmed or trimmed.isspace():
        return None
    header_line, body = split_csv(trimmed)
    if not body:
        return None
    # the body in bytes: after the first LF (one byte in UTF-8, never inside a character), up to what
    # the trimming left (the trimmed-off end re-encoded: a few bytes)
    end = len(utf8) - len(text[len(trimmed) :].encode())
    body_bytes = utf8[utf8.find(b"\n") + 1 : end]
    return None if b'"' in body_bytes else (header_line, body_bytes)


def read_alone(path: Path, name: str, data: bytes | None = None) -> Parsed:
    """`read_landing_file`, its rejection returned rather than raised."""
    try:
        return read_landing_file(path, name, data)
    except RejectedFile as err:
        return err


def _line_numbers(counts: list[int]) -> pl.Series:
    """1..n for each file's n lines, one column over the joined files."""
    return pl.int_ranges(1, pl.Series(counts, dtype=pl.Int64) + 1, dtype=pl.Int64, eager=True).explode()


def _cut(rows: pl.DataFrame, counts: list[int]) -> list[pl.DataFrame]:
    """The joined rows cut back into files of `counts` rows each (slices: nothing copied)."""
    out, start = [], 0
    for n in counts:
        out.append(rows.slice(start, n))
        start += n
    return out


def _jsonl_batch(files: list[tuple[int, str, bytes]], out: list[Parsed | None]) -> None:
    """JSON Lines files read by one `read_ndjson`; kept where every line gave one record (a file alone
    is read whole on the same condition, see `parse_jsonl`); on a failure the batch is halved."""
    counts = [byte_count(u, b"\n") + (0 if u.endswith(b"\n") else 1) for _, _, u in files]
    joined = b"".join(u if u.endswith(b"\n") else u + b"\n" for _, _, u in files)
    try:
        whole = pl.read_ndjson(joined, schema=_JSON_SCHEMA)
    except Exception:  # noqa: BLE001 - a broken line somewhere: halve until its file is alone
        whole = None
    if whole is None or whole.height != sum(counts):
        if len(files) > 1:
            _jsonl_batch(files[: len(files) // 2], out)
            _jsonl_batch(files[len(files) // 2 :], out)
        return  # a single file stays unparsed here: read alone, with its own notes or reason
    # each file's count of non-null fields: the end of a running count at each file's last line
    filled = whole.select(fields_filled().cum_sum())
    ends = filled.to_series().gather(pl.Series(counts).cum_sum() - 1).to_list()
    fields_read = [end - start for end, start in zip(ends, [0, *ends[:-1]], strict=True)]
    only_fields = only_field_values([u for _, _, u in files], fields_read)
    whole = whole.with_columns(line_no=_line_numbers(counts), raw_line=pl.lit(None, dtype=pl.String))
    whole = with_optional_fields(LandedFile(whole)).rows
    for (i, text, _), rows, no_other_key in zip(files, _cut(whole, counts), only_fields, strict=True):
        keys = [] if no_other_key else extra_keys_of(text)
        out[i] = LandedFile(rows, extra_note(keys))


def _csv_batch(
    header_line: str, bodies: list[tuple[int, bytes]], items: Sequence[Item], out: list[Parsed | None]
) -> None:
    """CSV files with one header line and no double quote, their bodies joined and split in one query."""
    try:
        notes, index, width = csv_layout(header_line, items[bodies[0][0]][1])
    except RejectedFile:
        return  # each file is read alone and rejected under its own name
    counts = [byte_count(body, b"\n") + 1 for _, body in bodies]
    joined = b"\n".join(body for _, body in bodies)
    rows = exact_csv_records(joined, width, index)
    rows = plain_csv_records(joined, width, index) if rows is None else rows
    if rows.height != sum(counts):  # not expected (one record a line): read each alone
        return
    rows = with_optional_fields(LandedFile(rows.with_columns(line_no=_line_numbers(counts)))).rows
    for (i, _), part in zip(bodies, _cut(rows, counts), strict=True):
        out[i] = LandedFile(part, list(notes))


_PARQUET_COLUMNS = frozenset(FIELDS + OPTIONAL_FIELDS)


def _parquet_shape(data: bytes) -> tuple[tuple[tuple[str, str], ...], int] | None:
    """(columns with their types, rows) of a Parquet file from its footer, if it is the plain shape read
    in batches: the contract's fields named exactly so (no note, no renaming), none nested; else None."""
    try:
        meta = pq.read_metadata(io.BytesIO(data))
        schema = meta.schema.to_arrow_schema()
    except Exception:  # noqa: BLE001 - not a readable footer: read alone, which rejects it
        return None
    if not set(FIELDS) <= set(schema.names) <= _PARQUET_COLUMNS or len(set(schema.names)) != len(schema):
        return None
    if any(pa.types.is_nested(f.type) for f in schema):
        return None
    return tuple((f.name, str(f.type)) for f in schema), meta.num_rows


def _parquet_batch(files: list[tuple[int, bytes]], out: list[Parsed | None]) -> None:
    """Parquet files of one schema read by one `read_parquet` (a call per file cost 5x as much as the
    reading); kept where the rows read are the footers' counts. Other shapes are read alone."""
    groups: dict[tuple, list[tuple[int, bytes, int]]] = {}
    for i, data in files:
        shape = _parquet_shape(data)
        if shape is not None:
            groups.setdefault(shape[0], []).append((i, data, shape[1]))
    for members in groups.values():
        counts = [n for _, _, n in members]
        try:
            whole = pl.read_parquet([io.BytesIO(data) for _, data, _ in members])
        except Exception:  # noqa: BLE001 - read alone, each with its own reason
            continue
        if whole.height != sum(counts):
            continue
        rows = with_optional_fields(LandedFile(parquet_records(whole, _line_numbers(counts)))).rows
        for (i, _, _), part in zip(members, _cut(rows, counts), strict=True):
            out[i] = LandedFile(part, [])


@dataclass(frozen=True)
class Read:
    """What a worker found in one landing file: its entry (size and mtime as read), the content hash
    (None if it could not be read), the parse (None if not parsed) or the error."""

    entry: LandingEntry
    digest: str | None = None
    landed: LandedFile | None = None
    error: Exception | None = None
    days: tuple[dt.date, ...] = ()  # reading days of its records, once routed

    def parsed(self, out: Parsed) -> Read:
        """This read with its parse (or the parse's rejection)."""
        if isinstance(out, RejectedFile):
            return Read(self.entry, self.digest, error=out)
        return Read(self.entry, self.digest, out)


def read_batch(entries: Sequence[LandingEntry], known_digests: set[str]) -> tuple[list[Read], float]:
    """On a worker: each file's bytes, their hash and (unless the hash is known already or the file
    unsupported) their parse, the files of one format parsed together; and the seconds spent parsing.
    Pure: every decision is taken later, in listing order (see `ingest.settle`)."""
    reads: list[Read] = []
    todo: list[tuple[int, Item]] = []
    for entry in entries:
        try:
            data, st = read_regular_file(entry.path)
        except (RejectedFile, OSError) as exc:
            reads.append(Read(entry, error=exc))
            continue
        entry = LandingEntry(entry.path, entry.rel, entry.kind, len(data), st.st_mtime_ns)
        digest = content_hash(data)
        if digest not in known_digests and entry.kind != "unsupported":
            todo.append((len(reads), (entry.path, entry.rel, data)))
        reads.append(Read(entry, digest))
    t0 = time.perf_counter()
    for (n, _), out in zip(todo, read_landing_files([item for _, item in todo]), strict=True):
        reads[n] = reads[n].parsed(out)
    return reads, time.perf_counter() - t0
