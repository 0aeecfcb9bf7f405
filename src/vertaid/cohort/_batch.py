"""One batch of JSON Lines in, one row per line out: the function both cohort engines run.

Each line is either assessed or rejected, never dropped. Lines the columns can vouch for — read by
Arrow's JSON reader against the case's schema (:mod:`vertaid.cohort._json_lines`), with values the case
model's checks pass (:mod:`vertaid.cohort._layout`) — are decided together by the columnar policy; every
other line goes to the case model and the per-case engine, one at a time — so a rejected line gets
exactly the reasons ``vertaid assess`` would give, and an unusual but valid line still gets the same
answer.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import polars as pl

from vertaid.cohort._flat import nested_document
from vertaid.cohort._json_lines import FileChunk, candidate_texts, chunk_lines, joined_texts, read_lines
from vertaid.cohort._layout import FLAT_FIELDS
from vertaid.cohort._policy import RESULT_COLUMNS, assess_columns
from vertaid.domain.assessment import assess_case
from vertaid.domain.case import InvalidCase, parse_case
from vertaid.domain.engine import fired_rules
from vertaid.domain.pack import KnowledgePack
from vertaid.services._json_text import MAX_BYTES, UnreadableInput, parse_json_text

__all__ = ["assess_cases", "assess_decoded", "assess_lines", "assess_text", "output_schema"]

_JSON_WHITESPACE: Final = " \t\r\n"


def output_schema(explain: bool) -> dict[str, pl.DataType]:
    """The columns of a cohort's rows: the line, the case id, the result, and why a line was rejected."""
    schema: dict[str, pl.DataType] = {
        "line_number": pl.Int64(),
        "case_id": pl.String(),
        "decision": pl.String(),
        "strength": pl.String(),
        "score": pl.Int64(),
        "target_levels": pl.List(pl.String()),
        "lcd_coverage_met": pl.Boolean(),
        "worst_genant_grade": pl.Int64(),
    }
    if explain:
        schema["rules_fired"] = pl.List(pl.String())
    schema["rejected"] = pl.String()
    return schema


def assess_lines(lines: pl.DataFrame, pack: KnowledgePack, *, explain: bool = False) -> pl.DataFrame:
    """Assess a batch of JSON Lines.

    Args:
        lines: ``line_number`` (from 1) and ``line`` (the text of one case).
        pack: the knowledge pack.
        explain: add ``rules_fired``, the ids of the rules that hold, in pack order.

    Returns:
        One row per line, in line order (:func:`output_schema`): a rejected line has ``rejected`` set to
        its reasons and no result.
    """
    plain = pl.col("line").str.strip_chars(_JSON_WHITESPACE)
    candidate = (
        plain.str.starts_with("{") & plain.str.ends_with("}") & (pl.col("line").str.len_bytes() <= MAX_BYTES)
    )
    marked = lines.select(
        pl.col("line_number").cast(pl.Int64), pl.col("line").alias("_source"), candidate.alias("_candidate")
    )
    candidates = marked.filter(pl.col("_candidate"))
    read, cases = read_lines(joined_texts(candidates.get_column("_source")))
    read_mask = pl.Series(read, dtype=pl.Boolean)
    decoded = pl.concat(
        [candidates.filter(read_mask).select("line_number", "_source"), cases], how="horizontal"
    )
    unread = pl.concat([marked.filter(~pl.col("_candidate")), candidates.filter(~read_mask)])
    return assess_decoded(
        decoded,
        pack,
        explain=explain,
        document_of=_json_document,
        unread=unread.select("line_number", "_source"),
    )


def assess_text(chunk: FileChunk, pack: KnowledgePack, *, explain: bool = False) -> pl.DataFrame:
    """Assess a chunk of a JSON Lines file as it is on disk: the same rows as :func:`assess_lines` on its
    lines, without making a string of each line."""
    text, first_line = chunk.text, chunk.first_line
    if len(text) and text.max() >= 0x80:
        try:
            text.tobytes().decode("utf-8")
        except UnicodeDecodeError:  # Polars names the problem, as it does for any file it cannot read
            lines = pl.scan_lines(
                io.BytesIO(text.tobytes()), row_index_name="line_number", row_index_offset=first_line
            )
            return assess_lines(lines.collect(), pack, explain=explain)
    starts, ends, candidates = chunk_lines(chunk)
    read, cases = read_lines(candidate_texts(text, starts, ends, candidates))
    numbers = np.arange(first_line, first_line + len(starts), dtype=np.int64)
    on_reader = np.flatnonzero(candidates)
    read_rows = on_reader[read]
    unread_rows = np.sort(np.concatenate([np.flatnonzero(~candidates), on_reader[~read]]))
    decoded = pl.concat(
        [pl.DataFrame({"line_number": numbers[read_rows], "_source": read_rows}), cases], how="horizontal"
    )

    def document_of(row: int) -> object:
        return parse_json_text(text[starts[row] : ends[row]].tobytes())

    return assess_decoded(
        decoded,
        pack,
        explain=explain,
        document_of=document_of,
        unread=pl.DataFrame({"line_number": numbers[unread_rows], "_source": unread_rows}),
    )


def assess_decoded(
    cases: pl.DataFrame,
    pack: KnowledgePack,
    *,
    explain: bool,
    document_of: Callable[[Any], object],
    unread: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Assess decoded cases: by columns together where the columns vouch for them, every other one by
    itself.

    Args:
        cases: ``line_number``, ``_source`` (what ``document_of`` turns back into the case as given, for
            the case model) and the case in the flat layout.
        unread: ``line_number`` and ``_source`` of lines that could not be decoded into columns.
    """
    schema = output_schema(explain)
    one_by_one = [unread] if unread is not None and unread.height else []
    assessed = []
    if cases.height:
        results = assess_columns(cases.select(list(FLAT_FIELDS)), pack, explain=explain)
        vouched = results.get_column("_admitted") & ~results.get_column("_rounding_unsure")
        rows = pl.concat(
            [cases.select("line_number", pl.col("id").alias("case_id")), results], how="horizontal"
        )
        if not vouched.all():  # a filter copies every column
            one_by_one.append(cases.filter(~vouched).select("line_number", "_source"))
            rows = rows.filter(vouched)
        assessed.append(
            rows.with_columns(pl.lit(None, pl.String).alias("rejected")).select(list(schema)).cast(schema)  # type: ignore[arg-type]
        )
    slow = pl.concat(one_by_one) if one_by_one else None
    if slow is None or not slow.height:  # the columns' rows are in line order already
        return assessed[0] if assessed else pl.DataFrame(schema=schema)
    rows_one_by_one = [
        _assess_one(number, source, pack, explain, document_of) for number, source in slow.iter_rows()
    ]
    assessed.append(pl.DataFrame(rows_one_by_one, schema=schema, orient="row"))
    return pl.concat(assessed).sort("line_number")


def assess_cases(cases: pl.DataFrame, pack: KnowledgePack, *, explain: bool = False) -> pl.DataFrame:
    """Assess a batch of typed cases (``line_number`` and the flat layout's columns), as from Parquet.

    The columns' types are the case model's, so no key can be unknown: a case is assessed by columns
    when its values pass the case model's checks, and by the case model otherwise.
    """

    def document_of(row: int) -> object:
        return nested_document(cases.row(row, named=True))

    numbered = cases.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_source"))
    return assess_decoded(numbered, pack, explain=explain, document_of=document_of)


def _json_document(line: str) -> object:
    return parse_json_text(line.encode("utf-8"))


def _assess_one(
    number: int, source: Any, pack: KnowledgePack, explain: bool, document_of: Callable[[Any], object]
) -> tuple[Any, ...]:
    """One case through the case model and the per-case engine: its row, or its reasons."""
    nothing = (None,) * len(RESULT_COLUMNS)
    extra: tuple[Any, ...] = (None,) if explain else ()
    try:
        document = document_of(source)
    except UnreadableInput as error:
        return (number, None, *nothing, *extra, f"the line {error}")
    try:
        case = parse_case(document)
    except InvalidCase as error:
        reasons = "; ".join(f"{path}: {message}" for path, message in error.problems)
        case_id = document.get("id") if isinstance(document, dict) else None
        return (number, case_id if isinstance(case_id, str) else None, *nothing, *extra, reasons)
    assessment = assess_case(case, pack)
    grades = [f["genant_grade"] for f in assessment["fractures"] if f["genant_grade"] is not None]
    result = (
        assessment["decision"],
        assessment["strength"],
        assessment["score"],
        assessment["target_levels"],
        assessment["coverage"]["medicare_lcd"]["met"],
        max(grades) if grades else None,
    )
    if explain:
        extra = (fired_rules(case, pack),)
    return (number, case.id, *result, *extra, None)
