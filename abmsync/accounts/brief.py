"""The account brief: what a rep opening an account should see of its buying centre.

A pure function of a scoring result (scored people and accounts), the
touchpoints, the account links (:mod:`abmsync.accounts.links`) and the as-of
time. People of linked accounts count for the account that speaks for their
company, and the roll-up (:func:`abmsync.rules.accounts.roll_up_accounts`) is
evaluated again over those companies, so a HubSpot company and a Salesforce
account of one company carry one brief. Per company:

- ``account_score``: the account's fit plus the summed engagement of its people;
- ``tier``, ``mqa``, ``engaged_people``, ``engaged_roles`` (of ``expected_roles``),
  ``coverage`` (a share) and ``coverage_percent`` as the roll-up defines them;
- ``engaged_roles_text``: "decider, influencer (2 of 5)";
- ``last_touch``: the day of the newest engaging touchpoint of its people;
- ``committee``: one line per person holding a buying role, ordered by role,
  then newest touch: "Vera Lang · VP Sales · decider · last touch 2026-11-28";
- ``touches``: its newest engaging touchpoints of the last ``recent_days``
  days, newest first: "2026-11-28 · form submit · Contact sales · Vera Lang".

Lines change only when people, roles or activity change, never by the day:
touches are dated, and the order does not follow decaying scores. Sends,
bounces and unsubscribes are not engagement (as in the report's ABM section).
:func:`bounded_text` joins lines into a field of a given length.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from abmsync.rules.accounts import expected_roles, roll_up_accounts
from abmsync.rules.compiled import CompiledRules
from abmsync.rules.scoring import role_column

RECENT_LIMIT = 10  # touchpoints per account in the brief
NOT_ENGAGEMENT = ("email_send", "email_bounce", "unsubscribe")
SEPARATOR = " · "
# The member columns a brief reads (besides the expected roles' flags).
MEMBER_COLUMNS = (
    "person_id",
    "account_id",
    "engagement",
    "buying_roles",
    "first_name",
    "last_name",
    "email",
    "title",
)
ROLLUP_COLUMNS = (
    "people",
    "account_engagement",
    "engaged_people",
    "engaged_roles",
    "coverage",
    "mqa",
)
BRIEF_COLUMNS: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "name": pl.String(),
    "tier": pl.String(),
    "account_fit": pl.Float64(),
    "account_engagement": pl.Float64(),
    "account_score": pl.Float64(),
    "mqa": pl.Boolean(),
    "people": pl.Int64(),
    "engaged_people": pl.Int64(),
    "engaged_roles": pl.Int64(),
    "expected_roles": pl.Int64(),
    "engaged_role_names": pl.List(pl.String()),
    "engaged_roles_text": pl.String(),
    "coverage": pl.Float64(),
    "coverage_percent": pl.Float64(),
    "last_touch": pl.Date(),
    "committee": pl.List(pl.String()),
    "touches": pl.List(pl.String()),
}


def account_briefs(
    rules: CompiledRules,
    people: pl.DataFrame,
    accounts: pl.DataFrame,
    touchpoints: pl.DataFrame,
    links: pl.DataFrame,
    *,
    recent_days: int = 90,
) -> pl.DataFrame:
    """One brief per company (``BRIEF_COLUMNS``), keyed by the account that speaks for it.

    ``people`` and ``accounts`` are a scoring result's frames as of
    ``rules.as_of``; ``touchpoints`` have ``person_id``, ``type``,
    ``occurred_at`` and optionally ``id``, ``campaign``, ``subject``, ``url``;
    ``links`` maps ``account_id`` to ``canonical_id``.
    """
    as_of = rules.as_of
    members = on_companies(people, links)
    companies = accounts.filter(pl.col("id").is_in(links["canonical_id"].implode())).drop(
        [c for c in ROLLUP_COLUMNS if c in accounts.columns]
    )
    rolled = roll_up_accounts(rules, members.lazy(), companies.lazy()).collect()
    touches = engaging(touchpoints, as_of)
    roles = expected_roles(rules)
    # Only what the brief shows: the scoring result has a column per rule and field.
    wanted = [*MEMBER_COLUMNS, *(role_column(r) for r in roles)]
    members = members.select([c for c in wanted if c in members.columns]).join(
        touches.group_by("person_id").agg(pl.col("occurred_at").max().alias("__last")),
        on="person_id",
        how="left",
    )
    engaged = pl.col("engagement") >= rules.ruleset.engaged_min
    held = _engaged_roles(members, roles, engaged)
    per_account = (
        members.filter(pl.col("account_id").is_not_null())
        .group_by("account_id")
        .agg(pl.col("__last").max().dt.date().alias("last_touch"))
    )
    briefs = (
        rolled.rename({"id": "account_id"})
        .join(held, on="account_id", how="left")
        .join(per_account, on="account_id", how="left")
        .join(_committee(rules, members, engaged), on="account_id", how="left")
        .join(_recent(members, touches, as_of, recent_days), on="account_id", how="left")
        .with_columns(
            pl.col("account_fit").fill_null(0.0),
            (pl.col("account_fit").fill_null(0.0) + pl.col("account_engagement")).alias(
                "account_score"
            ),
            pl.lit(len(roles), dtype=pl.Int64).alias("expected_roles"),
            (pl.col("coverage") * 100).round(2).alias("coverage_percent"),
            pl.col("engaged_role_names").fill_null(pl.lit([], dtype=pl.List(pl.String()))),
            pl.col("committee").fill_null(pl.lit([], dtype=pl.List(pl.String()))),
            pl.col("touches").fill_null(pl.lit([], dtype=pl.List(pl.String()))),
        )
    )
    briefs = briefs.with_columns(_roles_text(len(roles)).alias("engaged_roles_text"))
    return briefs.select(
        [
            pl.col(c).cast(t) if c in briefs.columns else pl.lit(None, t).alias(c)
            for c, t in BRIEF_COLUMNS.items()
        ]
    )


def bounded_text(lines: Sequence[str], length: int | None) -> str | None:
    """``lines`` joined by newlines within ``length`` characters; None when there are none.

    Lines that do not fit are left out whole and counted on a last line
    ("… and 12 more"); a single line longer than the field is cut.
    """
    if not lines:
        return None
    text = "\n".join(lines)
    if length is None or len(text) <= length:
        return text
    kept: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        more = f"… and {len(lines) - i - 1} more" if i + 1 < len(lines) else ""
        need = used + len(line) + (1 if kept else 0)
        if need + (len(more) + 1 if more else 0) > length:
            break
        kept.append(line)
        used = need
    rest = len(lines) - len(kept)
    if not kept:
        return lines[0][: max(length - 1, 0)] + "…"
    return "\n".join([*kept, f"… and {rest} more"])


def on_companies(frame: pl.DataFrame, links: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (people, touchpoints) with ``account_id`` replaced by the account that
    speaks for its company (``links``: ``account_id`` -> ``canonical_id``)."""
    return (
        frame.join(
            links.rename({"canonical_id": "__company"}),
            on="account_id",
            how="left",
            maintain_order="left",
        )
        .with_columns(pl.coalesce("__company", "account_id").alias("account_id"))
        .drop("__company")
    )


def engaging(touchpoints: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """The touchpoints up to ``as_of`` that are engagement (not ``NOT_ENGAGEMENT``)."""
    return touchpoints.filter(
        ~pl.col("type").is_in(NOT_ENGAGEMENT) & (pl.col("occurred_at") <= as_of)
    )


def _engaged_roles(members: pl.DataFrame, roles: list[str], engaged: pl.Expr) -> pl.DataFrame:
    """Per account, the expected roles at least one engaged person holds, in role order."""
    present = [r for r in roles if role_column(r) in members.columns]
    if not present:
        return pl.DataFrame(
            schema={"account_id": pl.String(), "engaged_role_names": pl.List(pl.String())}
        )
    flags = [(engaged & pl.col(role_column(r))).any().alias(r) for r in present]
    names = pl.concat_list([pl.when(pl.col(r)).then(pl.lit(r)) for r in present]).list.drop_nulls()
    return (
        members.filter(pl.col("account_id").is_not_null())
        .group_by("account_id")
        .agg(flags)
        .select("account_id", names.alias("engaged_role_names"))
    )


def _roles_text(expected: int) -> pl.Expr:
    names = pl.col("engaged_role_names").list.join(", ")
    count = pl.format("{} of {}", pl.col("engaged_roles"), pl.lit(expected))
    return (
        pl.when(pl.col("engaged_role_names").list.len() > 0)
        .then(pl.format("{} ({})", names, count))
        .otherwise(pl.format("none ({})", count))
    )


def _person_name() -> pl.Expr:
    full = pl.concat_str(
        [pl.col("first_name"), pl.col("last_name")], separator=" ", ignore_nulls=True
    ).str.strip_chars()
    return pl.when(full.str.len_chars() > 0).then(full).otherwise(pl.col("email"))


def _committee(rules: CompiledRules, members: pl.DataFrame, engaged: pl.Expr) -> pl.DataFrame:
    """Per account, one line per person holding a buying role."""
    order = [role.value for role, _ in rules.roles]
    if not order or "buying_roles" not in members.columns:
        return pl.DataFrame(schema={"account_id": pl.String(), "committee": pl.List(pl.String())})
    first_role = (
        pl.col("buying_roles")
        .list.first()
        .replace_strict(
            {r: i for i, r in enumerate(order)}, default=len(order), return_dtype=pl.Int64
        )
    )
    touch = (
        pl.when(pl.col("__last").is_not_null())
        .then(pl.lit("last touch ") + pl.col("__last").dt.strftime("%Y-%m-%d"))
        .otherwise(pl.lit("no touch yet"))
    )
    line = pl.concat_str(
        [
            _person_name().fill_null("(no name)"),
            pl.col("title"),
            pl.col("buying_roles").list.join(", "),
            touch,
            pl.when(engaged).then(pl.lit("engaged")),
        ],
        separator=SEPARATOR,
        ignore_nulls=True,
    )
    return (
        members.filter(pl.col("account_id").is_not_null() & (pl.col("buying_roles").list.len() > 0))
        .select(  # the line first: the sort then moves five columns, not every member column
            "account_id",
            "person_id",
            "__last",
            first_role.alias("__role"),
            _person_name().alias("__name"),
            line.alias("__line"),
        )
        .sort(
            ["account_id", "__role", "__last", "__name", "person_id"],
            descending=[False, False, True, False, False],
            nulls_last=True,
        )
        .group_by("account_id", maintain_order=True)
        .agg(pl.col("__line").alias("committee"))
    )


def _recent(
    members: pl.DataFrame, touches: pl.DataFrame, as_of: datetime, days: int
) -> pl.DataFrame:
    """Per account, its newest engaging touchpoints, one line each."""
    detail = [c for c in ("campaign", "subject", "url") if c in touches.columns]
    name = (
        pl.coalesce([pl.col(c).cast(pl.String) for c in detail])
        if detail
        else pl.lit(None, pl.String)
    )
    line = pl.concat_str(
        [
            pl.col("occurred_at").dt.strftime("%Y-%m-%d"),
            pl.col("type").str.replace_all("_", " "),
            name,
            pl.col("__name"),
        ],
        separator=SEPARATOR,
        ignore_nulls=True,
    )
    tie = ["id"] if "id" in touches.columns else []
    people = members.filter(pl.col("account_id").is_not_null()).select(
        "person_id", "account_id", _person_name().alias("__name")
    )
    return (
        touches.filter(pl.col("occurred_at") >= as_of - timedelta(days=days))
        .select("person_id", "occurred_at", "type", *detail, *tie)
        .join(people, on="person_id", how="inner")
        .sort(["account_id", "occurred_at", *tie], descending=[False, True, *([False] * len(tie))])
        .group_by("account_id", maintain_order=True)
        .agg(line.head(RECENT_LIMIT).alias("touches"))
    )
