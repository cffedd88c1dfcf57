"""Territory tables: which row of a table a person falls in, by country, state and postal code.

Rows are tried in order and the first whose criteria all match wins. Country
(falling back to the account's country) and state compare case-insensitively;
postal codes compare as prefixes with spaces removed ("8*" and "8" both mean
"starts with 8"). Everything is a polars expression over the candidates.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from abmsync.rules.model import TerritoryRow


def text(column: pl.Expr) -> pl.Expr:
    """A text column with blank values as null."""
    text = column.cast(pl.String).str.strip_chars()
    return pl.when(text != "").then(text)


def country() -> pl.Expr:
    """The person's country, else their account's, upper-case."""
    return pl.coalesce(text(pl.col("country")), text(pl.col("account_country"))).str.to_uppercase()


def postal() -> pl.Expr:
    """The postal code without spaces, upper-case."""
    return text(pl.col("postal_code")).str.replace_all(" ", "", literal=True).str.to_uppercase()


def prefix(pattern: str) -> str:
    """'8*' and '8' both mean 'starts with 8'."""
    return pattern.strip().replace(" ", "").upper().rstrip("*")


def row_matches(row: TerritoryRow) -> pl.Expr:
    """Whether a person matches every criterion of ``row`` (null as false)."""
    condition = pl.lit(True)
    if row.country is not None:
        wanted = pl.Series([c.strip().upper() for c in row.country], dtype=pl.String())
        condition = condition & country().is_in(wanted.implode())
    if row.state is not None:
        wanted = pl.Series([s.strip().upper() for s in row.state], dtype=pl.String())
        condition = condition & text(pl.col("state")).str.to_uppercase().is_in(wanted.implode())
    if row.postal is not None:
        prefixes = [postal().str.starts_with(prefix(str(p))) for p in row.postal]
        condition = condition & pl.any_horizontal(prefixes)
    return condition.fill_null(False)


def first_row(rows: Sequence[TerritoryRow]) -> pl.Expr:
    """The index of the first row of a territory table that matches, else null."""
    index: pl.Expr = pl.lit(None, dtype=pl.Int64)
    for number in reversed(range(len(rows))):
        index = pl.when(row_matches(rows[number])).then(pl.lit(number, pl.Int64)).otherwise(index)
    return index
