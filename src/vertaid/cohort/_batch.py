"""One batch of JSON Lines in, one row per line out: the function both cohort engines run.

Each line is either assessed or rejected, never dropped. Lines the columns can vouch for (see
:mod:`vertaid.cohort._layout` and :mod:`vertaid.cohort._text_audit`) are decided together by the columnar
policy; every other line goes to the case model and the per-case engine, one at a time — so a rejected
line gets exactly the reasons ``vertaid assess`` would give, and an unusual but valid line still gets
the same answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import polars as pl

from vertaid.cohort._layout import CASE_DTYPE, admitted, non_null_members
from vertaid.cohort._policy import RESULT_COLUMNS, assess_columns
from vertaid.cohort._text_audit import keys_admitted, needs_skeleton, skeleton_admitted
from vertaid.domain.assessment import assess_case
from vertaid.domain.case import InvalidCase, parse_case
from vertaid.domain.engine import fired_rules
from vertaid.domain.pack import KnowledgePack
from vertaid.services._json_text import MAX_BYTES, UnreadableInput, parse_json_text

__all__ = ["OUTPUT_SCHEMA", "assess_lines", "output_schema"]

_CHUNK: Final = 256
"""When a batch holds a line the decoder refuses, it is retried in pieces this long."""


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


OUTPUT_SCHEMA: Final = output_schema(False)


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
    schema = output_schema(explain)
    looks_like_object = pl.col("line").str.strip_chars().str.starts_with("{") & (
        pl.col("line").str.len_bytes() <= MAX_BYTES
    )
    candidates = lines.filter(looks_like_object)
    one_by_one = [lines.filter(~looks_like_object)]
    decoded_parts = []
    for part, decoded in _decode(candidates):
        if decoded is None:
            one_by_one.append(part)
        else:
            decoded_parts.append(part.with_columns(decoded))
    assessed = [pl.DataFrame(schema=schema)]
    if decoded_parts:
        decoded_lines = pl.concat(decoded_parts)
        vouched = admitted(pl.col("case")) & keys_admitted(pl.col("line"), non_null_members(pl.col("case")))
        marked = decoded_lines.with_columns(
            vouched.alias("_vouched"), needs_skeleton(pl.col("line"), pl.col("case")).alias("_skeleton")
        )
        # The costlier skeleton check runs only on the few lines that need it.
        unsure = marked.filter(pl.col("_vouched") & pl.col("_skeleton"))
        if unsure.height:
            marked = pl.concat(
                [
                    marked.filter(~(pl.col("_vouched") & pl.col("_skeleton"))),
                    unsure.with_columns(skeleton_admitted(pl.col("line"), pl.col("case")).alias("_vouched")),
                ]
            )
        one_by_one.append(marked.filter(~pl.col("_vouched")).select("line_number", "line"))
        columnar = marked.filter(pl.col("_vouched"))
        results = assess_columns(columnar.select("case"), pack, explain=explain)
        rows = pl.concat(
            [columnar.select("line_number", pl.col("case").struct.field("id").alias("case_id")), results],
            how="horizontal",
        )
        one_by_one.append(
            rows.filter(pl.col("_rounding_unsure"))
            .select("line_number")
            .join(columnar.select("line_number", "line"), on="line_number", maintain_order="left")
        )
        assessed.append(
            rows.filter(~pl.col("_rounding_unsure"))
            .drop("_rounding_unsure")
            .with_columns(pl.lit(None, pl.String).alias("rejected"))
            .select(list(schema))
            .cast(schema)  # type: ignore[arg-type]
        )
    slow = pl.concat(one_by_one).select("line_number", "line")
    if slow.height:
        assessed.append(_assess_one_by_one(slow, pack, explain, schema))
    return pl.concat(assessed).sort("line_number")


def _decode(lines: pl.DataFrame) -> Iterator[tuple[pl.DataFrame, pl.Series | None]]:
    """Yield pieces of ``lines`` with their decoded ``case`` column, or None for a piece the decoder
    refuses (a line of the wrong types or not JSON): those go one by one to the case model."""
    decode = pl.col("line").str.json_decode(CASE_DTYPE).alias("case")
    try:
        yield lines, lines.select(decode).to_series()
        return
    except pl.exceptions.PolarsError:
        pass
    for start in range(0, lines.height, _CHUNK):
        piece = lines.slice(start, _CHUNK)
        try:
            decoded = piece.select(decode).to_series()
        except pl.exceptions.PolarsError:
            yield piece, None
        else:
            yield piece, decoded


def _assess_one_by_one(
    lines: pl.DataFrame, pack: KnowledgePack, explain: bool, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    rows = [_assess_line(number, text, pack, explain) for number, text in lines.iter_rows()]
    return pl.DataFrame(rows, schema=schema, orient="row")


def _assess_line(number: int, text: str, pack: KnowledgePack, explain: bool) -> tuple[Any, ...]:
    nothing = (None,) * len(RESULT_COLUMNS)
    extra: tuple[Any, ...] = (None,) if explain else ()
    try:
        document = parse_json_text(text.encode("utf-8"))
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
