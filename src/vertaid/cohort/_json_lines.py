"""JSON Lines into the case's columns, read strictly by Arrow's JSON reader.

Given the case's schema (:data:`ARROW_CASE_SCHEMA`, from the case model's shapes), Arrow's reader refuses a
text at the first line with a key given twice, a value of another JSON kind than its member's (``true``
for a number, ``"x"`` for a list, ``12`` for the id) or text that is not JSON, and it reports a key the
case model does not name, at any depth, as a column of its own. Those are what the case model refuses
besides values out of range or outside a choice, which :func:`vertaid.cohort._layout.admitted` checks on the
columns; so a line read here holds exactly the case the case model reads from it.

One read takes many lines, and one bad line refuses them all, naming the row where the reader stopped:
:func:`read_lines` reads again the lines before it and after it, and a line refused alone goes to the
case model. Every line given to the reader starts with ``{`` and ends with ``}``, so a read that gives
as many rows as it was given lines gave one row per line: a document can end only at a line's ``}``,
and the ``{`` after a line break cannot continue it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.json as pj

from vertaid.cohort._layout import CASE_DTYPE, FLAT_DTYPES
from vertaid.services._json_text import MAX_BYTES

__all__ = [
    "ARROW_CASE_SCHEMA",
    "FileChunk",
    "LineTexts",
    "candidate_texts",
    "chunk_lines",
    "chunk_of",
    "file_chunks",
    "joined_texts",
    "read_lines",
]

Positions = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


def _arrow_type(dtype: pl.DataType) -> pa.DataType:
    """The Arrow type the reader fills for a column of the case's Polars ``dtype``."""
    if isinstance(dtype, pl.Struct):
        return pa.struct([pa.field(f.name, _arrow_type(f.dtype)) for f in dtype.fields])  # type: ignore[arg-type]
    if isinstance(dtype, pl.List):
        return pa.list_(_arrow_type(dtype.inner))  # type: ignore[arg-type]
    if isinstance(dtype, pl.String):
        return pa.string()
    if isinstance(dtype, pl.Float64):
        return pa.float64()
    if isinstance(dtype, pl.Boolean):
        return pa.bool_()
    raise TypeError(f"no Arrow type for {dtype}")  # pragma: no cover - every case column is covered


_ARROW_CASE: Final = _arrow_type(CASE_DTYPE)
ARROW_CASE_SCHEMA: Final = pa.schema(list(_ARROW_CASE))
"""The case as Arrow columns, one per member of the case (``CASE_DTYPE``'s fields)."""

# "infer": an unknown key becomes a column of its own, so the rows that give it are found in one read;
# refusing it instead would name no row.
_PARSE: Final = pj.ParseOptions(explicit_schema=ARROW_CASE_SCHEMA, unexpected_field_behavior="infer")
_REFUSED_ROW: Final = re.compile(r" in row (\d+)\s*$")
_OPEN, _CLOSE, _NEWLINE, _RETURN, _SPACE = (ord(c) for c in "{}\n\r ")
_READ_PIECE: Final = 1 << 21


@dataclass(frozen=True)
class LineTexts:
    """Lines in one buffer: line ``i`` is ``text[starts[i]:ends[i]]``, and between one line's end and the
    next one's start there is only JSON whitespace."""

    text: Bytes
    starts: Positions
    ends: Positions

    def __len__(self) -> int:
        return len(self.starts)

    def span(self, start: int, stop: int) -> memoryview:
        """Lines ``start`` to ``stop`` (exclusive) as one text, without a copy."""
        return self.text.data[self.starts[start] : self.ends[stop - 1]]


Bytes = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class FileChunk:
    """Whole lines of a JSON Lines file as they are on disk, each ending with a line break."""

    text: Bytes
    first_line: int
    """The number of the chunk's first line in the file (from 1)."""
    breaks: Positions
    """Where each line's line break is."""


def chunk_of(text: bytes, first_line: int = 1) -> FileChunk:
    """Lines given as one text (each ending with a line break) as a chunk."""
    data = np.frombuffer(text, np.uint8)
    return FileChunk(data, first_line, np.flatnonzero(data == _NEWLINE))


def file_chunks(path: Path, lines: int) -> Iterator[FileChunk]:
    """Yield the file in chunks of ``lines`` lines (the last may have fewer); its last line is given a
    line break if it has none.

    Each chunk is read into a buffer of its own, sized from the lines read so far, so its text is copied
    once, from the file (only the part of a read past the chunk's last line is copied again), and each
    byte is looked at once for line breaks.
    """
    first_line, carried, size = 1, np.empty(0, np.uint8), lines * 1024
    with path.open("rb", buffering=0) as handle:
        while True:
            text = np.empty(max(size, 2 * len(carried), 1 << 16), np.uint8)
            text[: len(carried)] = carried
            end, at_end = len(carried), False
            found = [np.flatnonzero(carried == _NEWLINE)]
            count = len(found[0])
            while count < lines:
                if end == len(text):
                    text = np.concatenate([text, np.empty(len(text) // 2, np.uint8)])
                # A few MiB at a time, each looked at for line breaks while it is still in the cache.
                got = handle.readinto(text.data[end : end + _READ_PIECE])
                if not got:
                    at_end = True
                    break
                found.append(np.flatnonzero(text[end : end + got] == _NEWLINE) + end)
                count += len(found[-1])
                end += got
            breaks = np.concatenate(found)
            if len(breaks) >= lines:
                cut = int(breaks[lines - 1]) + 1
                carried, breaks = text[cut:end].copy(), breaks[:lines]
            else:
                cut, carried = end, np.empty(0, np.uint8)
            if at_end and cut and text[cut - 1] != _NEWLINE:
                if cut == len(text):
                    text = np.concatenate([text[:cut], np.empty(1, np.uint8)])
                text[cut] = _NEWLINE
                breaks = np.append(breaks, cut)
                cut += 1
            if cut:
                yield FileChunk(text[:cut], first_line, breaks)
            if at_end and not len(carried):
                return
            first_line += len(breaks)
            size = cut + cut // 50 + (1 << 16)  # the next chunk is about as long as this one


def chunk_lines(chunk: FileChunk) -> tuple[Positions, Positions, Mask]:
    """Where each line of ``chunk`` starts and ends (without ``\\r\\n``, as Polars reads lines), and which
    lines the reader may be given: those that start with ``{``, end with ``}`` and are not too long for
    the case model."""
    data = np.frombuffer(chunk.text, np.uint8)
    breaks = chunk.breaks
    starts = np.empty_like(breaks)
    starts[:1] = 0
    starts[1:] = breaks[:-1] + 1
    ends = breaks - ((data[breaks - 1] == _RETURN) & (breaks > starts))
    last = len(data) - 1
    candidates = (
        (ends > starts)
        & (data[np.minimum(starts, last)] == _OPEN)
        & (data[np.maximum(ends - 1, 0)] == _CLOSE)
        & (ends - starts <= MAX_BYTES)
    )
    return starts, ends, candidates


def candidate_texts(text: Bytes, starts: Positions, ends: Positions, candidates: Mask) -> LineTexts:
    """The candidate lines of a chunk as :class:`LineTexts`: the others are blanked out of a copy (only
    when there are any), so that what lies between two candidates is whitespace."""
    if candidates.all():
        return LineTexts(text, starts, ends)
    blanked = text.copy()
    for start, end in zip(starts[~candidates].tolist(), ends[~candidates].tolist(), strict=True):
        blanked[start:end] = _SPACE
    return LineTexts(blanked, starts[candidates], ends[candidates])


def joined_texts(lines: Sequence[str] | pl.Series) -> LineTexts:
    """Lines given one by one (each starting with ``{`` and ending with ``}``) as :class:`LineTexts`."""
    series = lines if isinstance(lines, pl.Series) else pl.Series(lines, dtype=pl.String)
    lengths = series.str.len_bytes().cast(pl.Int64).to_numpy()
    ends = np.cumsum(lengths + 1) - 1
    text = series.str.join("\n").item().encode("utf-8") if len(series) else b""
    return LineTexts(np.frombuffer(text, np.uint8), ends - lengths, ends)


def _read(text: memoryview | bytes) -> pa.Table:
    # One block for the whole text (at least as long as the longest line, which the reader needs).
    options = pj.ReadOptions(use_threads=False, block_size=min(max(len(text) + 1, 1 << 20), 1 << 30))
    return pj.read_json(pa.py_buffer(text), read_options=options, parse_options=_PARSE)


def _refused_row(refusal: pa.ArrowInvalid) -> int | None:
    found = _REFUSED_ROW.search(str(refusal))
    return int(found.group(1)) if found else None


def _unknown_values(array: pa.Array, expected: pa.DataType) -> Mask | None:
    """For each value of ``array``: whether it holds a value under a key ``expected`` does not have
    (None when its type has no such key at any depth)."""
    if isinstance(array.type, pa.StructType) and isinstance(expected, pa.StructType):
        found: Mask | None = None
        for field, child in zip(array.type, array.flatten(), strict=True):
            index = expected.get_field_index(field.name)
            unknown = (
                np.asarray(child.is_valid()) if index < 0 else _unknown_values(child, expected[index].type)
            )
            if unknown is not None:
                found = unknown if found is None else found | unknown
        return found
    if isinstance(array.type, pa.ListType) and isinstance(expected, pa.ListType):
        unknown = _unknown_values(array.flatten(), expected.value_type)
        if unknown is None:
            return None
        parents = np.asarray(pa.compute.list_parent_indices(array))
        return np.bincount(parents[unknown], minlength=len(array)) > 0
    return None


def _unknown_rows(table: pa.Table) -> Mask | None:
    """For each row: whether it gives a value under a key the case does not have (None when no row
    gives such a key, even as null)."""
    if table.schema.equals(ARROW_CASE_SCHEMA):
        return None
    return _unknown_values(_as_struct(table), _ARROW_CASE)


def _as_struct(table: pa.Table) -> pa.StructArray:
    return pa.StructArray.from_arrays(
        [column.combine_chunks() for column in table.columns], fields=list(table.schema)
    )


@dataclass
class _Reading:
    lines: LineTexts
    tables: list[tuple[int, pa.Table]]
    todo: list[tuple[int, int]]
    before_refusal: list[tuple[int, int]]
    """Lines the reader read before it refused a line: read again, all together, once the rest is done."""

    def attempt(self, start: int, stop: int) -> None:
        """Read lines ``start`` to ``stop``; what cannot be vouched for whole is split up."""
        try:
            table = _read(self.lines.span(start, stop))
        except pa.ArrowInvalid as refusal:
            row = _refused_row(refusal)
            if stop - start > 1 and row is not None and row < stop - start:
                if row:
                    self.before_refusal.append((start, start + row))
                # The line at the row goes to the case model. (The reader counts documents: after two
                # cases on one line it names the line after the bad one, which the case model then
                # decides, as it would; the lines before are read again, and found out, below.)
                if start + row + 1 < stop:
                    self.todo.append((start + row + 1, stop))
                return
            self.split(start, stop)
            return
        if table.num_rows != stop - start:
            self.split(start, stop)
            return
        unknown = _unknown_rows(table)
        if unknown is None:
            self.tables.append((start, table))
            return
        if not unknown.any():  # an unknown key given only as null shows in no row
            self.split(start, stop)
            return
        # Lines with a value under an unknown key go to the case model; the others are read again (one
        # of them may give an unknown key as null).
        self.before_refusal.extend(_runs(~unknown, start))

    def split(self, start: int, stop: int) -> None:
        if stop - start > 1:
            middle = (start + stop) // 2
            self.todo += [(middle, stop), (start, middle)]

    def read_together(self) -> None:
        """Read the lines read before a refusal again, all at once (they were read, so usually they
        are read again; but a line with an unknown key was not yet looked for among them)."""
        ranges, self.before_refusal = sorted(self.before_refusal), []
        lengths = [stop - start for start, stop in ranges]
        try:
            table = _read(b"\n".join(self.lines.span(start, stop) for start, stop in ranges))
        except pa.ArrowInvalid:
            table = None
        if table is None or table.num_rows != sum(lengths):
            self.todo.extend(reversed(ranges))  # each alone, where the refusal can be found
            return
        unknown = _unknown_rows(table)
        if unknown is not None and not unknown.any():
            self.todo.extend(reversed(ranges))
            return
        offset = 0
        for (start, _), length in zip(ranges, lengths, strict=True):
            if unknown is None:
                self.tables.append((start, table.slice(offset, length)))
            else:
                self.before_refusal.extend(_runs(~unknown[offset : offset + length], start))
            offset += length


def _runs(keep: Mask, offset: int) -> list[tuple[int, int]]:
    """The runs of true values in ``keep``, as ranges shifted by ``offset``."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], keep, [False])).astype(np.int8)))
    return [(offset + int(a), offset + int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def read_lines(lines: LineTexts) -> tuple[Mask, pl.DataFrame]:
    """Read every line the reader vouches for.

    Returns:
        Which lines were read, and their cases in line order, in the flat layout (``FLAT_FIELDS``).
    """
    reading = _Reading(lines, [], [(0, len(lines))] if len(lines) else [], [])
    while reading.todo or reading.before_refusal:
        if reading.todo:
            reading.attempt(*reading.todo.pop())
        else:
            reading.read_together()
    read = np.zeros(len(lines), np.bool_)
    for start, table in reading.tables:
        read[start : start + table.num_rows] = True
    reading.tables.sort(key=lambda piece: piece[0])
    tables = [table for _, table in reading.tables] or [ARROW_CASE_SCHEMA.empty_table()]
    # One chunk per column: Polars converts chunk by chunk, and a batch read around refusals has hundreds.
    whole = pa.concat_tables(tables).combine_chunks() if len(tables) > 1 else tables[0]
    cases = pl.from_arrow(whole.flatten())  # patient.age, …: the flat layout's names
    assert isinstance(cases, pl.DataFrame)  # an Arrow table is a frame
    return read, cases.select(pl.col(name).cast(dtype) for name, dtype in FLAT_DTYPES.items())
