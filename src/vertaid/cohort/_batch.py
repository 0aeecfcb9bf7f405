"""One batch of JSON Lines in, one row per line out: the function both cohort engines run.

Each line is either assessed or rejected, never dropped. Lines the columns can vouch for (see
:mod:`vertaid.cohort._layout` and :mod:`vertaid.cohort._text_audit`) are decided together by the columnar
policy; every other line goes to the case model and the per-case engine, one at a time — so a rejected
line gets exactly the reasons ``vertaid assess`` would give, and an unusual but valid line still gets
the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

import polars as pl

from vertaid.cohort._flat import strip_nulls
from vertaid.cohort._layout import CASE_DTYPE, admitted
from vertaid.cohort._policy import RESULT_COLUMNS, assess_columns
from vertaid.cohort._text_audit import keys_admitted, needs_skeleton, skeleton_admitted
from vertaid.domain.assessment import assess_case
from vertaid.domain.case import InvalidCase, parse_case
from vertaid.domain.engine import fired_rules
from vertaid.domain.pack import KnowledgePack
from vertaid.services._json_text import MAX_BYTES, UnreadableInput, parse_json_text

__all__ = ["assess_cases", "assess_lines", "assess_vouched", "output_schema"]

_PIECE: Final = 64
"""When a batch holds a line the decoder refuses, it is retried in pieces this long, then halved."""


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
    looks_like_object = pl.col("line").str.strip_chars().str.starts_with("{") & (
        pl.col("line").str.len_bytes() <= MAX_BYTES
    )
    candidates = lines.filter(looks_like_object)
    unread = [lines.filter(~looks_like_object)]
    decoded_lines: list[pl.DataFrame] = []
    decoded_cases: list[pl.Series] = []
    for part, decoded in _decode(candidates):
        if decoded is None:
            unread.append(part)
        else:
            decoded_lines.append(part)
            decoded_cases.append(decoded)
    marked = pl.DataFrame(
        schema={"line_number": pl.Int64, "line": pl.String, "case": CASE_DTYPE, "_vouched": pl.Boolean}
    )
    if decoded_lines:
        vouched = admitted(pl.col("case")) & keys_admitted(pl.col("line"), pl.col("case"))
        marked = (
            pl.concat(decoded_lines)
            .hstack([pl.concat(decoded_cases)])
            .rechunk()
            .with_columns(
                vouched.alias("_vouched"), needs_skeleton(pl.col("line"), pl.col("case")).alias("_skeleton")
            )
        )
        # The costlier skeleton check runs only on the lines that need it (a null, a number-like id).
        unsure = pl.col("_vouched") & pl.col("_skeleton")
        if marked.select(unsure.any()).item():
            checked = marked.filter(unsure)
            marked = pl.concat(
                [
                    marked.filter(~unsure),
                    checked.with_columns(skeleton_admitted(checked.select("line", "case"))),
                ]
            )
        marked = marked.drop("_skeleton")
    unread_lines = pl.concat(unread).select("line_number", "line")
    return assess_vouched(
        marked.rename({"line": "_source"}),
        pack,
        explain=explain,
        document_of=_json_document,
        unread=unread_lines.rename({"line": "_source"}),
    )


def assess_vouched(
    cases: pl.DataFrame,
    pack: KnowledgePack,
    *,
    explain: bool,
    document_of: Callable[[Any], object],
    unread: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Assess decoded cases: those ``_vouched`` for by columns together, every other one by itself.

    Args:
        cases: ``line_number``, ``case`` (the decoded case), ``_vouched`` and ``_source`` (what
            ``document_of`` turns back into the case as given, for the case model).
        unread: ``line_number`` and ``_source`` of lines that could not be decoded into columns.
    """
    schema = output_schema(explain)
    one_by_one = [cases.filter(~pl.col("_vouched")).select("line_number", "_source")]
    if unread is not None:
        one_by_one.append(unread)
    assessed = [pl.DataFrame(schema=schema)]
    columnar = cases.filter(pl.col("_vouched"))
    if columnar.height:
        results = assess_columns(columnar.select("case"), pack, explain=explain)
        rows = pl.concat(
            [columnar.select("line_number", pl.col("case").struct.field("id").alias("case_id")), results],
            how="horizontal",
        )
        unsure = rows.get_column("_rounding_unsure")
        one_by_one.append(columnar.filter(unsure).select("line_number", "_source"))
        assessed.append(
            rows.filter(~unsure)
            .with_columns(pl.lit(None, pl.String).alias("rejected"))
            .select(list(schema))
            .cast(schema)  # type: ignore[arg-type]
        )
    slow = pl.concat(one_by_one)
    if slow.height:
        rows_one_by_one = [
            _assess_one(number, source, pack, explain, document_of) for number, source in slow.iter_rows()
        ]
        assessed.append(pl.DataFrame(rows_one_by_one, schema=schema, orient="row"))
    return pl.concat(assessed).sort("line_number")


def assess_cases(cases: pl.DataFrame, pack: KnowledgePack, *, explain: bool = False) -> pl.DataFrame:
    """Assess a batch of typed cases (``line_number`` and the ``case`` struct), as from Parquet.

    The columns' types are the case model's, so no key can be unknown: a case is assessed by columns
    when its values pass the case model's checks, and by the case model otherwise.
    """
    marked = cases.with_columns(admitted(pl.col("case")).alias("_vouched"), pl.col("case").alias("_source"))
    return assess_vouched(marked, pack, explain=explain, document_of=strip_nulls)


def _json_document(line: str) -> object:
    return parse_json_text(line.encode("utf-8"))


def _decode(lines: pl.DataFrame) -> Iterator[tuple[pl.DataFrame, pl.Series | None]]:
    """Yield pieces of ``lines`` with their decoded ``case`` column, or None for a line the decoder
    refuses (not JSON, or a value of the wrong type): it goes alone to the case model.

    The decoder refuses a whole piece for one bad line, so a refused batch is retried in short pieces,
    and a refused piece is halved until the bad lines stand alone.
    """
    decode = pl.col("line").str.json_decode(CASE_DTYPE).alias("case")

    def pieces(part: pl.DataFrame, length: int) -> Iterator[tuple[pl.DataFrame, pl.Series | None]]:
        for start in range(0, part.height, length):
            piece = part.slice(start, length)
            try:
                decoded = _decoded(piece, decode)
            except pl.exceptions.PolarsError:
                if piece.height == 1:
                    yield piece, None
                else:
                    yield from pieces(piece, (piece.height + 1) // 2)
            else:
                yield piece, decoded

    try:
        yield lines, _decoded(lines, decode)
    except pl.exceptions.PolarsError:
        yield from pieces(lines, _PIECE)


def _decoded(lines: pl.DataFrame, decode: pl.Expr) -> pl.Series:
    decoded = lines.select(decode).to_series()
    if decoded.len() != lines.height:  # what the decoder makes of a line that is not one JSON value
        raise pl.exceptions.ComputeError("a line did not decode to one value")
    return decoded


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
