"""Identity: one person seen in several systems is one Person; duplicates are reported.

People arrive per source (Salesforce leads, Salesforce contacts, HubSpot
contacts). :func:`resolve_people` gives each distinct normalized email one
abmsync person id and keeps every source record as a cross-reference, so
scores and touchpoints from HubSpot and Salesforce land on the same person.
Records without an email keep an identity of their own.

Within one system, two records that look like the same person (same email,
or same first name, last name and company when emails differ) are *likely
duplicates*: reported for a human to merge in the CRM, never merged silently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl

XREF_COLUMNS: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "system": pl.String(),
    "object": pl.String(),
    "vendor_id": pl.String(),
}


@dataclass(frozen=True)
class Identities:
    """People resolved across sources, their cross-references, and likely duplicates."""

    people: pl.DataFrame  # one row per person: person_id plus the preferred record's columns
    xrefs: pl.DataFrame  # XREF_COLUMNS: every source record and the person it belongs to
    duplicates: pl.DataFrame  # system, object, reason, vendor_ids (list)


def identity_basis(email: pl.Expr, system: pl.Expr, obj: pl.Expr, vendor_id: pl.Expr) -> pl.Expr:
    """What makes two records one person: the normalized email, else the record itself."""
    normalized = email.str.strip_chars().str.to_lowercase()
    return (
        pl.when(normalized.is_not_null() & (normalized != ""))
        .then(pl.lit("email:") + normalized)
        .otherwise(
            pl.concat_str([pl.lit("record:"), system, pl.lit("/"), obj, pl.lit("/"), vendor_id])
        )
    )


def person_ids(bases: pl.Series) -> pl.Series:
    """Stable person ids (a digest, so ids carry no email) for each distinct basis."""
    unique = bases.unique()
    digests = ["p-" + hashlib.sha256(text.encode()).hexdigest()[:16] for text in unique]
    schema = {"basis": bases.dtype, "person_id": pl.String()}
    table = pl.DataFrame({"basis": unique, "person_id": digests}, schema=schema)
    return bases.to_frame("basis").join(table, on="basis", how="left", maintain_order="left")[
        "person_id"
    ]


def resolve_people(sources: list[tuple[str, str, pl.DataFrame]]) -> Identities:
    """Merge people from ``(system, object, frame)`` sources (frames in schema columns).

    The first source listed is preferred for a person's attributes (list the
    CRM before the marketing platform); later sources fill what it lacks.
    """
    tagged = []
    for rank, (system, obj, frame) in enumerate(sources):
        tagged.append(
            frame.with_columns(
                pl.lit(system).alias("system"),
                pl.lit(obj).alias("object"),
                pl.col("id").cast(pl.String).alias("vendor_id"),
                pl.lit(rank).alias("__rank"),
            )
        )
    records = pl.concat(tagged, how="diagonal_relaxed")
    # ``identity_email`` (when given) overrides the email for identity only, e.g.
    # a contact converted from a lead keeps the lead's person.
    email = (
        pl.coalesce("identity_email", "email")
        if "identity_email" in records.columns
        else pl.col("email")
    )
    bases = records.select(
        identity_basis(email, pl.col("system"), pl.col("object"), pl.col("vendor_id"))
    ).to_series()
    records = records.with_columns(person_ids(bases).alias("person_id"))
    xrefs = records.select(list(XREF_COLUMNS)).sort(["person_id", "system", "object"])
    attributes = [
        c
        for c in records.columns
        if c not in ("id", "system", "object", "vendor_id", "__rank", "person_id", "identity_email")
    ]
    people = (
        records.sort(["person_id", "__rank", "vendor_id"])
        .group_by("person_id", maintain_order=True)
        .agg(pl.col(attributes).drop_nulls().first())
        .sort("person_id")
    )
    return Identities(people, xrefs, likely_duplicates(records))


def likely_duplicates(records: pl.DataFrame) -> pl.DataFrame:
    """Records of one system and object that look like the same person."""
    # The columns compared, before any filter: a filter copies every column it keeps.
    compared = ("system", "object", "vendor_id", "email", "first_name", "last_name", "company")
    records = records.select(c for c in compared if c in records.columns)
    by_email = (
        records.filter(pl.col("email").is_not_null())
        .group_by("system", "object", "email")
        .agg(pl.col("vendor_id").sort().alias("vendor_ids"))
        .filter(pl.col("vendor_ids").list.len() > 1)
        .select(
            "system", "object", pl.format("same email {}", "email").alias("reason"), "vendor_ids"
        )
    )
    name = pl.concat_str(
        [
            pl.col(c).str.strip_chars().str.to_lowercase()
            for c in ("first_name", "last_name", "company")
        ],
        separator="|",
    )
    present = [c for c in ("first_name", "last_name", "company") if c in records.columns]
    if len(present) < 3:
        return by_email.sort("system", "object", "reason")
    by_name = (
        records.with_columns(name.alias("__name"))
        .filter(pl.col("__name").is_not_null())
        .group_by("system", "object", "__name")
        .agg(
            pl.col("vendor_id").sort().alias("vendor_ids"),
            pl.col("email").n_unique().alias("__emails"),
        )
        .filter((pl.col("vendor_ids").list.len() > 1) & (pl.col("__emails") > 1))
        .select(
            "system",
            "object",
            pl.format(
                "same name and company ({})", pl.col("__name").str.replace_all(r"\|", ", ")
            ).alias("reason"),
            "vendor_ids",
        )
    )
    return pl.concat([by_email, by_name]).sort("system", "object", "reason")
