"""The flat layout of a cohort in CSV or Parquet: one row per case, fractures as a list column.

Columns, derived from ``vertaid.case/1`` (docs/cohort.md lists them):

- ``id``; ``patient.age``, ``patient.sex``, … ``pain.nrs``, … ``conservative_care.weeks``,
  ``conservative_care.modalities``, ``preferences.priorities``, ``preferences.cost_sensitive`` — one per
  member of the case's records, named ``record.member``;
- ``fractures`` — the list of fractures. In Parquet a list of structs with the fracture's members
  (``morphometry_mm`` a struct); in CSV the JSON text of the list, as are ``modalities`` and ``priorities``.

A column the layout does not name is an error for the whole file, naming the column: it would otherwise
be ignored on every row. A column that is absent is unknown on every row.

CSV rows become JSON text and go through the same checks as JSON Lines, so a bad cell gets the case
model's reason; the line number of a CSV row is its record number plus one (the header is line 1).
Parquet columns are typed: they are read as they are (widened where that loses nothing) and only rows the
columns cannot vouch for go to the case model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import polars as pl
import pyarrow.parquet as pq

from vertaid.cohort._layout import FLAT_DTYPES, FLAT_FIELDS
from vertaid.domain._shapes import Boolean, Choice, Integer, ListOf, Number, Record, Shape, Text
from vertaid.domain.case import CASE_SHAPE

__all__ = [
    "FLAT_COLUMNS",
    "FlatLayoutError",
    "csv_batches",
    "nested_document",
    "parquet_batches",
    "strip_nulls",
]


class FlatLayoutError(ValueError):
    """The file's columns do not follow the flat layout; the message names the column."""


FLAT_COLUMNS: Final = {name: field.shape for name, field in FLAT_FIELDS.items()}
"""The flat layout's columns, in order, with the shape of each."""


def _check_header(names: list[str], source: str) -> None:
    unknown = [name for name in names if name not in FLAT_COLUMNS]
    if unknown:
        raise FlatLayoutError(
            f"{source}: column {unknown[0]!r} is not in the flat case layout (docs/cohort.md)"
        )


def csv_batches(path: Path, batch_size: int) -> Iterator[pl.DataFrame]:
    """Yield batches of ``line_number`` and ``line`` (the row as JSON text) from a CSV file."""
    frame = pl.scan_csv(path, infer_schema=False, row_index_name="_record")
    _check_header([name for name in frame.collect_schema().names() if name != "_record"], path.name)
    for batch in frame.collect_batches(chunk_size=batch_size):
        yield batch.select(
            (pl.col("_record").cast(pl.Int64) + 2).alias("line_number"),
            _json_line(batch.columns).alias("line"),
        )


_JSON_SCALAR: Final = r"^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false)$"


def _quoted(cell: pl.Expr) -> pl.Expr:
    escaped = cell
    for raw, escape in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        escaped = escaped.str.replace_all(raw, escape, literal=True)
    return pl.concat_str(pl.lit('"'), escaped, pl.lit('"'))


def _json_value(cell: pl.Expr, shape: Shape) -> pl.Expr:
    """A CSV cell as JSON text: null when empty; a string when the member holds text or a choice of
    words, or when the cell is not a JSON number or literal (so the case model names the bad value)."""
    cell = pl.when(cell.str.strip_chars() != "").then(cell)
    if isinstance(shape, ListOf | Record):
        return cell
    if isinstance(shape, Text) or (
        isinstance(shape, Choice) and all(isinstance(v, str) for v in shape.values)
    ):
        return _quoted(cell)
    if isinstance(shape, Boolean | Integer | Number | Choice):
        trimmed = cell.str.strip_chars()
        return pl.when(trimmed.str.contains(_JSON_SCALAR)).then(trimmed).otherwise(_quoted(cell))
    raise TypeError(f"no CSV form for {shape!r}")  # pragma: no cover - every case shape is covered


def _members(pairs: list[pl.Expr]) -> pl.Expr:
    return pl.concat_list(pairs).list.drop_nulls().list.join(",")


def _json_line(present: list[str]) -> pl.Expr:
    top: list[pl.Expr] = []
    for name, field in CASE_SHAPE.fields.items():
        if isinstance(field.shape, Record):
            members = [
                pl.concat_str(pl.lit(f'"{member}":'), _json_value(pl.col(f"{name}.{member}"), spec.shape))
                for member, spec in field.shape.fields.items()
                if f"{name}.{member}" in present
            ]
            if members:
                top.append(pl.concat_str(pl.lit(f'"{name}":{{'), _members(members), pl.lit("}")))
        elif name in present:
            top.append(pl.concat_str(pl.lit(f'"{name}":'), _json_value(pl.col(name), field.shape)))
    return pl.concat_str(pl.lit("{"), _members(top) if top else pl.lit(""), pl.lit("}"))


# -- Parquet ------------------------------------------------------------------------------------


def _widens(found: pl.DataType, expected: pl.DataType) -> bool:
    """Whether a single value of type ``found`` reads as ``expected`` without loss (lists and structs
    are taken apart by :func:`_struct_problem`)."""
    if found == expected or found == pl.Null():
        return True
    if isinstance(expected, pl.Float64):
        return found.is_integer() or isinstance(found, pl.Float32)
    if isinstance(expected, pl.String):
        return isinstance(found, pl.Categorical | pl.Enum)
    return False


def _struct_problem(found: pl.DataType, expected: pl.DataType, column: str) -> str | None:
    if isinstance(found, pl.List | pl.Array) and isinstance(expected, pl.List):
        return _struct_problem(found.inner, expected.inner, column)  # type: ignore[arg-type]
    if isinstance(found, pl.Struct) and isinstance(expected, pl.Struct):
        wanted = {f.name: f.dtype for f in expected.fields}
        for member in found.fields:
            if member.name not in wanted:
                return f"column {column!r} has member {member.name!r}, which a fracture does not have"
            problem = _struct_problem(member.dtype, wanted[member.name], f"{column}.{member.name}")  # type: ignore[arg-type]
            if problem:
                return problem
        return None
    if not _widens(found, expected):
        return f"column {column!r} is {found}, expected {expected}"
    return None


def parquet_batches(path: Path, batch_size: int) -> Iterator[pl.DataFrame]:
    """Yield batches of ``line_number`` (row number from 1) and the flat layout's columns, of the case
    model's types (absent columns are null)."""
    schema = pl.scan_parquet(path).collect_schema()
    _check_header(list(schema.names()), path.name)
    for name, dtype in schema.items():
        problem = _struct_problem(dtype, FLAT_DTYPES[name], name)
        if problem:
            raise FlatLayoutError(f"{path.name}: {problem}")
    # PyArrow's batch reader takes about two thirds of the CPU time Polars' streaming scan does here.
    # Without pre_buffer=False it buffers every row group it will read at once: the whole file.
    first = 1
    reader = pq.ParquetFile(path, pre_buffer=False)
    for batch in reader.iter_batches(batch_size=batch_size, use_threads=False):
        rows = pl.from_arrow(batch)
        assert isinstance(rows, pl.DataFrame)  # a record batch is a frame
        yield rows.select(
            pl.int_range(first, first + rows.height, dtype=pl.Int64).alias("line_number"),
            *(
                (pl.col(name).cast(dtype) if name in schema else pl.lit(None, dtype)).alias(name)
                for name, dtype in FLAT_DTYPES.items()
            ),
        )
        first += rows.height


def nested_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of the flat layout as the case it stands for: each record's members gathered under it, and
    members that are null left out (null is unknown)."""
    document: dict[str, Any] = {}
    for name, field in CASE_SHAPE.fields.items():
        if isinstance(field.shape, Record):
            document[name] = {member: row.get(f"{name}.{member}") for member in field.shape.fields}
        else:
            document[name] = row.get(name)
    return strip_nulls(document)  # type: ignore[no-any-return]


def strip_nulls(value: Any) -> Any:
    """A decoded row as the case it stands for: members that are null are left out (null is unknown)."""
    if isinstance(value, Mapping):
        return {key: strip_nulls(member) for key, member in value.items() if member is not None}
    if isinstance(value, list):
        return [strip_nulls(item) for item in value]
    return value
