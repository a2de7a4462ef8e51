"""The landing contract's three formats, each parsed vectorized over the whole file into the contract's
fields as text: RFC 4180 CSV, JSON Lines and Parquet. A record that cannot be split is kept whole as
`raw_line` (the silver build quarantines it); a file that cannot be read at all raises RejectedFile."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from warehouse.contracts import TELEMETRY_FIELDS as FIELDS
from warehouse.contracts import TELEMETRY_OPTIONAL_FIELDS as OPTIONAL_FIELDS

# Python's csv default: a quoted CSV field longer than this rejects the file as `field_too_large`.
MAX_FIELD_CHARS = 131_072


class RejectedFile(Exception):
    """A landing file that cannot be parsed at all; `reason` is a short code.

    `detail` names the file and what was expected; it never quotes the file's content.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def byte_count(data: bytes, byte: bytes) -> int:
    """How often one byte occurs in `data`: numpy's compare counts 3-4x faster than `bytes.count` and
    without holding the GIL (the ingest's parse threads spent a tenth of their time in `bytes.count`)."""
    return int(np.count_nonzero(np.frombuffer(data, np.uint8) == ord(byte)))


def pair_count(data: bytes, pair: bytes) -> int:
    """How often a two-byte sequence of two different bytes occurs (no two can overlap), as `byte_count`
    (`bytes.count` searches a longer needle 5x slower)."""
    first, second = pair
    if first == second:
        raise ValueError("pair_count counts a pair of two different bytes")
    a = np.frombuffer(data, np.uint8)
    return int(np.count_nonzero((a[:-1] == first) & (a[1:] == second)))


_BOM = b"\xef\xbb\xbf"


def has_bom(data: bytes) -> bool:
    """A UTF-8 byte order mark anywhere: its first byte looked for first (memchr, ~10x the 3-byte search)."""
    return b"\xef" in data and _BOM in data


@dataclass
class LandedFile:
    rows: pl.DataFrame  # FIELDS as strings + line_no + raw_line
    notes: list[str] = field(default_factory=list)


def _header_check(columns: list[str], name: str) -> list[str]:
    cols = [c.strip().lower() for c in columns]
    missing = [f for f in FIELDS if f not in cols]
    if missing:  # the header's own text is not quoted: it is the file's content
        raise RejectedFile(
            "missing_columns", f"{name}: required columns {missing} absent ({len(columns)} columns found)"
        )
    extra = [c for c in cols if c not in FIELDS and c not in OPTIONAL_FIELDS]
    return extra_note(extra)


def _lines(text: str) -> pl.DataFrame:
    """Physical lines (split on LF, a CR before it dropped) with their 1-based number, `n`."""
    lines = pl.Series("line", [text]).str.split("\n").explode().str.strip_suffix("\r")
    return lines.to_frame().with_row_index("n", offset=1)


def _records(body: pl.DataFrame) -> pl.DataFrame:
    """RFC 4180 records from physical lines: a newline inside a quoted field stays in its field.

    A line continues the record while the count of double quotes since the record began is odd (an
    escaped quote `""` adds two, so it never changes the parity). A record's `line_no` is the number of
    its first physical line. An unclosed quote runs to the end of the file and makes one malformed record.
    """
    quotes = pl.col("line").str.count_matches('"', literal=True)
    body = body.with_columns(_open=(quotes.cum_sum() % 2) == 1)
    if not body["_open"].any():
        return body.select(pl.col("n").cast(pl.Int64).alias("line_no"), "line")
    starts = ~pl.col("_open").shift(1, fill_value=False)
    return (
        body.with_columns(_rec=starts.cum_sum())
        .group_by("_rec", maintain_order=True)
        .agg(pl.col("n").first().cast(pl.Int64).alias("line_no"), pl.col("line").str.join("\n"))
        .drop("_rec")
    )


def _quoted_fields(records: pl.DataFrame, width: int, index: list[int], name: str) -> pl.DataFrame:
    """Fields of quoted records that have `width` fields, read by polars' CSV reader in one go."""
    cols = [f"c{j}" for j in range(width)]
    long = records.filter(pl.col("line").str.len_chars() > MAX_FIELD_CHARS)
    for line_no, line in long.iter_rows():  # rare: Python's csv applies the same field limit as before
        try:
            list(csv.reader(io.StringIO(line)))
        except csv.Error as exc:
            raise RejectedFile(
                "field_too_large",
                f"{name}: record at line {line_no} has a field over {MAX_FIELD_CHARS:,} chars",
            ) from exc
    text = "\n".join(records["line"].to_list()) + "\n"
    try:
        parsed = pl.read_csv(
            io.StringIO(text),
            has_header=False,
            new_columns=cols,
            schema=dict.fromkeys(cols, pl.String),
            quote_char='"',
            empty_string_is_null=False,
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        parsed = None
    if parsed is None or parsed.height != records.height:  # quoting polars reads otherwise: Python's csv
        rows = [next(csv.reader(io.StringIO(line)), []) for line in records["line"].to_list()]
        rows = [r + [""] * (width - len(r)) for r in rows]
        parsed = pl.DataFrame(rows, schema=dict.fromkeys(cols, pl.String), orient="row")
    return parsed.select(
        *[pl.col(f"c{j}").fill_null("").alias(f) for f, j in zip(FIELDS, index, strict=True)]
    ).with_columns(records["line_no"].cast(pl.Int64), raw_line=pl.lit(None, dtype=pl.String))


def trim_trailing_blank_lines(text: str) -> str:
    """The text up to the end of its last line holding something other than whitespace."""
    last = len(text.rstrip())
    cut = text.find("\n", last)
    return text if cut < 0 else text[:cut]


def _fields_of(line: pl.Expr, width: int, index: list[int], ok: pl.Expr) -> list[pl.Expr]:
    """FIELDS from a record split on commas where `ok`, else nulls and the record kept as raw_line."""
    parts = line.str.split_exact(",", width - 1)  # where `ok`: exactly `width` fields, as split(",")
    return [
        *[
            pl.when(ok).then(parts.struct.field(f"field_{j}")).alias(f)
            for f, j in zip(FIELDS, index, strict=True)
        ],
        pl.col("line_no").cast(pl.Int64),
        pl.when(~ok).then(line).alias("raw_line"),
    ]


def _physical_lines(body: str | bytes) -> pl.LazyFrame:
    """The body's lines (split on LF, a CR before it dropped), numbered from 1 as `line_no`. The body may
    be given as UTF-8 bytes."""
    return (
        pl.LazyFrame({"line": [body]})
        .select(pl.col("line").cast(pl.String).str.split("\n"))
        .explode("line")
        .with_row_index("line_no", offset=1)
        .with_columns(pl.col("line").str.strip_suffix("\r"))
    )


def plain_csv_records(body: str | bytes, width: int, index: list[int]) -> pl.DataFrame:
    """FIELDS of a CSV body without double quotes: a line of exactly `width` comma-separated fields is
    split, any other line is kept whole as raw_line. Line by line, so bodies of files with the same
    header may be joined with LF and read in one query (line_no then counts over the joined text)."""
    line = pl.col("line")
    ok = line.str.count_matches(",", literal=True) == width - 1
    return _physical_lines(body).select(_fields_of(line, width, index, ok)).collect()


def exact_csv_records(body: bytes, width: int, index: list[int]) -> pl.DataFrame | None:
    """`plain_csv_records` of a UTF-8 body in which every line has exactly `width` fields, read by
    polars' CSV reader (2-3x faster); None unless that holds and the body has no quote, CR or BOM.

    polars raises on a line with more fields than `width`; with none over and as many commas as
    `width` fields on every line would have, no line has fewer either (a blank line has none)."""
    lines = byte_count(body, b"\n") + 1
    if byte_count(body, b",") != (width - 1) * lines or b'"' in body or b"\r" in body or has_bom(body):
        return None
    cols = [f"c{j}" for j in range(width)]
    try:
        df = pl.read_csv(
            body,
            has_header=False,
            new_columns=cols,
            schema=dict.fromkeys(cols, pl.String),
            quote_char=None,
            empty_string_is_null=False,
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        return None
    if df.height != lines:
        return None
    return df.select(
        *[pl.col(f"c{j}").alias(f) for f, j in zip(FIELDS, index, strict=True)],
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("line_no"),
        pl.lit(None, dtype=pl.String).alias("raw_line"),
    )


def csv_layout(header_line: str, name: str) -> tuple[list[str], list[int], int]:
    """(notes, index of each of FIELDS in the header, header width), or RejectedFile if a field is absent."""
    header = next(csv.reader([header_line]), [])
    notes = _header_check(header, name)
    return notes, [[c.strip().lower() for c in header].index(f) for f in FIELDS], len(header)


def split_csv(text: str) -> tuple[str, str | None]:
    """(header line, body) of a CSV text with its trailing blank lines trimmed; body None if no line
    break follows the header."""
    first_break = text.find("\n")
    header_line = (text if first_break < 0 else text[:first_break]).removesuffix("\r")
    return header_line, None if first_break < 0 else text[first_break + 1 :]


def parse_csv(text: str, name: str) -> LandedFile:
    """RFC 4180 CSV with a header row; a record without exactly the header's field count is malformed.

    One vectorized query splits unquoted records on commas; when the file holds a double quote, records
    are first assembled by quote parity (a quoted newline stays in its field) and the quoted ones are read
    by polars' CSV reader. Fields keep their text as is (no trimming); an empty field is ''. A record's
    line number is that of its first physical line (1 = the first line after the header).
    """
    text = trim_trailing_blank_lines(text)
    if not text.strip():
        raise RejectedFile("empty_file", f"{name}: no header")
    header_line, body = split_csv(text)
    notes, index, width = csv_layout(header_line, name)
    if body is None:
        empty = {f: pl.String for f in FIELDS} | {"line_no": pl.Int64, "raw_line": pl.String}
        return LandedFile(pl.DataFrame(schema=empty), notes)
    if '"' not in body:  # the common case: one query, one pass
        return LandedFile(plain_csv_records(body, width, index), notes)
    records = _records(_physical_lines(body).collect().rename({"line_no": "n"}))
    line = pl.col("line")
    quoted = line.str.contains('"', literal=True)
    records = records.with_columns(_quoted=quoted)
    plain = records.filter(~pl.col("_quoted"))
    plain_ok = line.str.count_matches(",", literal=True) == width - 1
    parts = [plain.select(_fields_of(line, width, index, plain_ok))]
    tricky = records.filter(pl.col("_quoted")).with_columns(
        _ok=line.str.replace_all(r'"(?:[^"]|"")*"', "").str.count_matches(",", literal=True) == width - 1
    )
    good = tricky.filter(pl.col("_ok")).select("line_no", "line")
    if good.height:
        parts.append(_quoted_fields(good, width, index, name))
    bad = tricky.filter(~pl.col("_ok"))
    if bad.height:
        parts.append(bad.select(_fields_of(line, width, index, pl.lit(False))))
    return LandedFile(pl.concat(parts).sort("line_no"), notes)


_KEY = r'[{,]\s*"((?:[^"\\]|\\.)*)"\s*:'  # an object key in a JSON line


def _decode_json_lines(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """(decoded FIELDS of the lines that are JSON objects, line numbers of those that are not).

    polars' NDJSON reader takes the lines in one go; when a line is not valid JSON it raises, and the
    lines are halved until the bad ones are found: O(n log n) at worst, one pass for a clean file.
    """
    if lines.is_empty():
        return pl.DataFrame(schema=dict.fromkeys(FIELDS, pl.String)), pl.Series("n", [], dtype=pl.UInt32)
    text = "\n".join(lines["line"].to_list())
    try:
        decoded = pl.read_ndjson(io.StringIO(text), schema=dict.fromkeys(FIELDS, pl.String))
    except Exception:  # noqa: BLE001 - any reader error: narrow it down below
        decoded = None
    if decoded is not None and decoded.height == lines.height:
        return decoded, pl.Series("n", [], dtype=pl.UInt32)
    if lines.height == 1:
        return pl.DataFrame(schema=dict.fromkeys(FIELDS, pl.String)), lines["n"]
    half = lines.height // 2
    good_a, bad_a = _decode_json_lines(lines.slice(0, half))
    good_b, bad_b = _decode_json_lines(lines.slice(half))
    return pl.concat([good_a, good_b]), pl.concat([bad_a, bad_b])


_KEY_BEFORE_SPACE = (b'" :', b'"\t:', b'"\r:')  # a key's closing quote, JSON whitespace, its colon


def only_field_values(texts: list[bytes], fields_read: list[int]) -> list[bool]:
    """Per JSON Lines text whose lines the NDJSON reader decoded into `fields_read` non-null contract
    fields: True if it holds no other object key, for then its `":` are exactly those fields' keys.

    With no key before whitespace (`"key" :`), every key ends in `":`, and the reader fills at most one
    field per key; so `":` == fields read leaves no room for another key, a repeated key, a null value
    or a `":` inside a string: any of those sends the text to `extra_keys_of`. Counts and literal
    searches, no regex (the regex count was a quarter of a JSONL parse)."""
    binary = pl.Series(texts, dtype=pl.Binary).to_frame("text")
    found = [pl.col("text").bin.contains(p) for p in _KEY_BEFORE_SPACE]
    spaced = binary.select(pl.any_horizontal(found))["text"].to_list()
    return [
        not gap and pair_count(text, b'":') == n
        for text, n, gap in zip(texts, fields_read, spaced, strict=True)
    ]


def extra_keys_of(text: str) -> list[str]:
    """The object keys other than FIELDS anywhere in a text (one regex pass over the whole file)."""
    found = pl.Series([text]).str.extract_all(_KEY).explode().str.extract(_KEY).drop_nulls().unique()
    return sorted(k for k in found.to_list() if k not in FIELDS)


def extra_note(keys: list[str]) -> list[str]:
    """The file's note for columns or keys outside the contract (none: no note)."""
    return [f"extra_columns: {', '.join(keys)} (ignored)"] if keys else []


def fields_filled() -> pl.Expr:
    """Per decoded record, how many of the contract's fields hold a value (see `only_field_values`)."""
    return pl.sum_horizontal([pl.col(f).is_not_null() for f in FIELDS])


def numbered_lines(decoded: pl.DataFrame) -> pl.DataFrame:
    """Decoded JSON lines, one a line, with their line numbers from 1 and no raw_line."""
    return decoded.with_columns(
        line_no=pl.int_range(1, pl.len() + 1, dtype=pl.Int64), raw_line=pl.lit(None, dtype=pl.String)
    )


def parse_jsonl(text: str, name: str, utf8: bytes | None = None) -> LandedFile:
    """JSON Lines: one object per line, read by polars' NDJSON reader.

    A line that is not a JSON object is kept as `raw_line` (malformed); blank lines are skipped;
    `line_no` is the physical line number. Values of any JSON type become text as polars renders them
    (10.5 -> "10.5", true -> "true"). A well-formed file is read in one call; otherwise the lines are split
    in polars and only the ones that are not objects are set aside (see `_decode_json_lines`). `utf8`,
    the text's UTF-8 bytes if the caller has them, spares polars encoding the text again (2x faster).
    """
    schema = dict.fromkeys(FIELDS, pl.String)
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    try:
        whole = pl.read_ndjson(io.StringIO(text) if utf8 is None else utf8, schema=schema)
    except Exception:  # noqa: BLE001 - a broken line: the per-line path below finds it
        whole = None
    if whole is not None and whole.height == n_lines:
        read = whole.select(fields_filled().sum()).item()
        keys = [] if only_field_values([utf8 or text.encode()], [read])[0] else extra_keys_of(text)
        return LandedFile(numbered_lines(whole), extra_note(keys))
    keys = extra_keys_of(text)
    notes = extra_note(keys)
    lines = _lines(text).filter(pl.col("line").str.strip_chars() != "")
    if lines.is_empty():
        raise RejectedFile("empty_file", f"{name}: no records")
    stripped = pl.col("line").str.strip_chars()
    lines = lines.with_columns(_shaped=stripped.str.starts_with("{") & stripped.str.ends_with("}"))
    objects = lines.filter(pl.col("_shaped")).select("n", stripped)
    decoded, broken = _decode_json_lines(objects)
    good_n = objects.filter(~pl.col("n").is_in(broken.implode()))["n"]
    good = decoded.with_columns(line_no=good_n.cast(pl.Int64), raw_line=pl.lit(None, dtype=pl.String))
    bad = lines.filter(~pl.col("_shaped") | pl.col("n").is_in(broken.implode())).select(
        *[pl.lit(None, dtype=pl.String).alias(f) for f in FIELDS],
        pl.col("n").cast(pl.Int64).alias("line_no"),
        pl.col("line").alias("raw_line"),
    )
    out = pl.concat([good, bad]).sort("line_no") if bad.height else good
    return LandedFile(out, notes)


def parse_parquet(data: bytes, name: str) -> LandedFile:
    try:
        df = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several error types for corrupt files
        raise RejectedFile(
            "unreadable_parquet", f"{name}: not a readable Parquet file ({type(exc).__name__})"
        ) from exc
    notes = _header_check(df.columns, name)
    df = df.rename({c: c.strip().lower() for c in df.columns})
    return LandedFile(parquet_records(df, pl.int_range(1, pl.len() + 1, dtype=pl.Int64)), notes)


def parquet_records(df: pl.DataFrame, line_no: pl.Expr | pl.Series) -> pl.DataFrame:
    """The contract's fields (and the optional ones present) of Parquet rows as text, with `line_no`."""
    return df.select(
        *[pl.col(f).cast(pl.String) for f in FIELDS + OPTIONAL_FIELDS if f in FIELDS or f in df.columns],
        line_no.alias("line_no"),
        pl.lit(None, dtype=pl.String).alias("raw_line"),
    )
