"""From the snapshot to the scoring inputs: one person per human, touchpoints on them.

After the read, the snapshot holds each source's records as the vendor knows
them. :func:`assemble` turns them into what the rules score:

- people: every live lead and contact of every system, resolved to persons
  (:mod:`abmsync.sync.identity`); a lead converted in Salesforce hands its
  person to the contact it became, so score history and touchpoints follow;
- records: every vendor record and its person, the map the write-back uses;
  converted leads and merge losers stay in it (their touchpoints still
  resolve) but are never written to;
- touchpoints: with the vendor person id replaced by abmsync's person id
  (merge losers' and converted leads' ids redirected to the survivor first);
- owners: CRM users under the names the rules use for them (``own-001``, an
  email, or the user id), so routing speaks the rules' language and the
  write-back translates back to the CRM's user ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from abmsync.rules.model import RuleSet
from abmsync.schema import FRAME_COLUMNS
from abmsync.sync.identity import resolve_people
from abmsync.sync.lifecycle_job import OWNER_COLUMNS
from abmsync.sync.sources import Source, rank
from abmsync.sync.store import Store

RECORD_COLUMNS: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "system": pl.String(),
    "object": pl.String(),
    "vendor_id": pl.String(),
    "kind": pl.String(),
    "writable": pl.Boolean(),
}
USER_FIELDS = ("Id", "Alias", "Username", "Email")


@dataclass(frozen=True)
class Assembled:
    """Scoring inputs and the record map of one run."""

    people: pl.DataFrame  # one row per person; ``id`` is abmsync's person id
    touchpoints: pl.DataFrame  # ``person_id`` is abmsync's person id
    accounts: pl.DataFrame | None
    records: pl.DataFrame  # RECORD_COLUMNS
    duplicates: pl.DataFrame
    orphan_touchpoints: int  # touchpoints whose person no source knows
    owners: pl.DataFrame  # OWNER_COLUMNS, ids as the rules name owners
    user_ids: dict[str, str]  # rules' owner name -> CRM user id
    user_emails: dict[str, str] = field(default_factory=dict)  # rules' owner name -> email


def assemble(
    store: Store, sources: list[Source], ruleset: RuleSet, users: pl.DataFrame | None
) -> Assembled:
    """Build the scoring inputs from the snapshot; see the module docstring."""
    refs = owner_refs(ruleset)
    user_ids, ref_of = _user_maps(users, refs)
    people_sources = sorted(
        (s for s in sources if s.entity == "people"), key=lambda s: (rank(s.system), s.obj)
    )
    frames: list[tuple[str, str, pl.DataFrame]] = []
    converted: list[pl.DataFrame] = []
    redirects: list[pl.DataFrame] = []
    loaded = [(source, source.load(store)) for source in people_sources]
    origins = _originating_leads(loaded)
    for source, frame in loaded:
        frame = _with_conversion(frame, origins.get(source.system))
        if "is_converted" in frame.columns and "converted_contact_id" in frame.columns:
            done = (
                pl.col("is_converted").fill_null(False)
                & pl.col("converted_contact_id").is_not_null()
            )
            converted.append(
                frame.filter(done)
                .select(
                    pl.lit(source.system).alias("system"),
                    pl.lit(source.obj).alias("object"),
                    pl.col("id").alias("vendor_id"),
                    pl.col("converted_contact_id").alias("target_id"),
                    pl.col("email").alias("lead_email"),
                    pl.col("kind"),
                )
                .cast(pl.String)
            )
            frame = frame.filter(~done)
        tombstones = source.tombstones(store).filter(pl.col("master_id").is_not_null())
        redirects.append(
            tombstones.select(
                pl.lit(source.system).alias("system"),
                pl.lit(source.obj).alias("object"),
                pl.col("id").alias("vendor_id"),
                pl.col("master_id").alias("target_id"),
                pl.lit(None, dtype=pl.String).alias("lead_email"),
                pl.lit(None, dtype=pl.String).alias("kind"),
            ).cast(pl.String)
        )
        frames.append((source.system, source.obj, _owners_as_refs(frame, ref_of)))
    moved = pl.concat([*converted, *redirects], how="vertical") if frames else None
    if moved is not None and converted:
        frames = _keep_lead_identity(frames, pl.concat(converted, how="vertical"))
    if not frames:
        empty = pl.DataFrame(schema=FRAME_COLUMNS["people"])
        identities = resolve_people([("none", "none", empty)])
    else:
        identities = resolve_people(frames)
    kinds = pl.concat(
        [
            f.select(
                pl.lit(system).alias("system"),
                pl.lit(obj).alias("object"),
                pl.col("id").cast(pl.String).alias("vendor_id"),
                pl.col("kind").cast(pl.String),
            )
            for system, obj, f in frames
        ],
        how="vertical",
    )
    records = identities.xrefs.join(
        kinds, on=["system", "object", "vendor_id"], how="left"
    ).with_columns(pl.lit(True).alias("writable"))
    if moved is not None and moved.height:
        # Converted leads and merge losers belong to the person of the record they became.
        target = records.select(
            "system", pl.col("vendor_id").alias("target_id"), "person_id"
        ).unique(["system", "target_id"])
        extra = moved.join(target, on=["system", "target_id"], how="inner").select(
            "person_id", "system", "object", "vendor_id", "kind", pl.lit(False).alias("writable")
        )
        records = pl.concat([records.select(list(RECORD_COLUMNS)), extra], how="vertical")
    records = records.select(list(RECORD_COLUMNS)).cast(RECORD_COLUMNS)  # type: ignore[arg-type]
    touchpoints, orphans = _touchpoints(store, sources, records, moved)
    accounts = _accounts(store, sources, ref_of)
    people = identities.people.rename({"person_id": "id"})
    return Assembled(
        people=people,
        touchpoints=touchpoints,
        accounts=accounts,
        records=records,
        duplicates=identities.duplicates,
        orphan_touchpoints=orphans,
        owners=_owners(users, ref_of, refs),
        user_ids=user_ids,
        user_emails=_user_emails(users, user_ids),
    )


def owner_refs(ruleset: RuleSet) -> dict[str, str | None]:
    """Every owner the rules name, with the queue they work in (if any)."""
    refs: dict[str, str | None] = {}
    routing = ruleset.routing
    if routing is not None:
        for queue, spec in routing.queues.items():
            for member in spec.members:
                refs.setdefault(member.owner, queue)
        for rows in routing.territories.values():
            for row in rows:
                if row.owner:
                    refs.setdefault(row.owner, None)
    if ruleset.lifecycle is not None:
        for sla in ruleset.lifecycle.sla:
            if sla.escalate_to:
                refs.setdefault(sla.escalate_to, None)
    return refs


def _user_maps(
    users: pl.DataFrame | None, refs: dict[str, str | None]
) -> tuple[dict[str, str], dict[str, str]]:
    """(rules name -> user id, user id -> rules name) for users the rules name.

    A rules name matches a user's Id, Alias, Username or Email (case-insensitive).
    """
    if users is None or users.is_empty():
        return {}, {}
    keys: dict[str, str] = {}
    for row in users.iter_rows(named=True):
        for name in USER_FIELDS:
            value = row.get(name)
            if value:
                keys.setdefault(str(value).lower(), str(row["Id"]))
    user_ids = {ref: keys[ref.lower()] for ref in refs if ref.lower() in keys}
    ref_of = {user: ref for ref, user in user_ids.items()}
    return user_ids, ref_of


def _user_emails(users: pl.DataFrame | None, user_ids: dict[str, str]) -> dict[str, str]:
    """Rules owner name -> the email of the CRM user it names (users with one)."""
    if users is None or "Email" not in users.columns:
        return {}
    emails = {str(r["Id"]): r["Email"] for r in users.iter_rows(named=True) if r.get("Email")}
    return {ref: str(emails[user]) for ref, user in user_ids.items() if user in emails}


def _owners_as_refs(frame: pl.DataFrame, ref_of: dict[str, str]) -> pl.DataFrame:
    if not ref_of or "owner_id" not in frame.columns:
        return frame
    return frame.with_columns(pl.col("owner_id").replace(ref_of))


def _owners(
    users: pl.DataFrame | None, ref_of: dict[str, str], refs: dict[str, str | None]
) -> pl.DataFrame:
    if users is None or users.is_empty():
        return pl.DataFrame(schema=OWNER_COLUMNS)
    rows = []
    for row in users.iter_rows(named=True):
        ref = ref_of.get(str(row["Id"]), str(row["Id"]))
        name = " ".join(str(row[n]) for n in ("FirstName", "LastName") if row.get(n))
        active = row.get("IsActive")
        if active is None and row.get("IsDisabled") is not None:
            active = not row["IsDisabled"]  # Dataverse's systemuser.isdisabled
        rows.append(
            {
                "id": ref,
                "name": name or ref,
                "queue": refs.get(ref),
                "max_open": None,
                "available": True if active is None else bool(active),
            }
        )
    return pl.DataFrame(rows, schema=OWNER_COLUMNS)


def _originating_leads(loaded: list[tuple[Source, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    """Per system, (lead id, contact id) of contacts that name the lead they came from.

    Dataverse records a qualification on the contact (``originatingleadid``,
    mapped to ``converted_from_id``), where Salesforce records it on the lead.
    """
    found: dict[str, list[pl.DataFrame]] = {}
    for source, frame in loaded:
        if "converted_from_id" in frame.columns:
            found.setdefault(source.system, []).append(
                frame.filter(pl.col("converted_from_id").is_not_null()).select(
                    pl.col("converted_from_id").cast(pl.String).alias("id"),
                    pl.col("id").cast(pl.String).alias("__contact"),
                )
            )
    return {
        system: pl.concat(frames).unique("id", keep="first", maintain_order=True)
        for system, frames in found.items()
    }


def _with_conversion(frame: pl.DataFrame, origins: pl.DataFrame | None) -> pl.DataFrame:
    """Mark leads a contact says it came from as converted into that contact."""
    if origins is None or origins.is_empty() or frame.is_empty():
        return frame
    if "is_converted" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Boolean).alias("is_converted"))
    if "converted_contact_id" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("converted_contact_id"))
    joined = frame.join(origins, on="id", how="left", maintain_order="left")
    return joined.with_columns(
        (pl.col("is_converted").fill_null(False) | pl.col("__contact").is_not_null()).alias(
            "is_converted"
        ),
        pl.coalesce(pl.col("converted_contact_id").cast(pl.String), "__contact").alias(
            "converted_contact_id"
        ),
    ).drop("__contact")


def _keep_lead_identity(
    frames: list[tuple[str, str, pl.DataFrame]], converted: pl.DataFrame
) -> list[tuple[str, str, pl.DataFrame]]:
    """Give each contact converted from a lead the lead's email as its identity."""
    identity = converted.select(
        "system", pl.col("target_id").alias("id"), pl.col("lead_email").alias("identity_email")
    ).unique(["system", "id"])
    out = []
    for system, obj, frame in frames:
        mine = identity.filter(pl.col("system") == system).drop("system")
        out.append((system, obj, frame.join(mine, on="id", how="left", maintain_order="left")))
    return out


def _touchpoints(
    store: Store, sources: list[Source], records: pl.DataFrame, moved: pl.DataFrame | None
) -> tuple[pl.DataFrame, int]:
    frames = []
    for source in sources:
        if source.entity != "touchpoints":
            continue
        frame = source.load(store)
        frames.append(
            frame.with_columns(
                pl.lit(source.system).alias("source_system"),
                pl.lit(source.obj).alias("source_object"),
            )
        )
    if not frames:
        columns = {**FRAME_COLUMNS["touchpoints"], "source_object": pl.String()}
        return pl.DataFrame(schema=columns), 0
    touchpoints = pl.concat(frames, how="diagonal_relaxed")
    if moved is not None and moved.height:
        redirect = moved.select(
            pl.col("system").alias("source_system"),
            pl.col("vendor_id").alias("person_id"),
            pl.col("target_id").alias("__target"),
        ).unique(["source_system", "person_id"])
        touchpoints = (
            touchpoints.join(
                redirect, on=["source_system", "person_id"], how="left", maintain_order="left"
            )
            .with_columns(pl.coalesce("__target", "person_id").alias("person_id"))
            .drop("__target")
        )
    owners = records.select(
        pl.col("system").alias("source_system"),
        pl.col("vendor_id").alias("person_id"),
        pl.col("person_id").alias("__person"),
    ).unique(["source_system", "person_id"])
    resolved = touchpoints.join(
        owners, on=["source_system", "person_id"], how="left", maintain_order="left"
    )
    orphans = int(resolved["__person"].null_count())
    resolved = (
        resolved.filter(pl.col("__person").is_not_null())
        .with_columns(pl.col("__person").alias("person_id"))
        .drop("__person")
    )
    return resolved, orphans


def _accounts(store: Store, sources: list[Source], ref_of: dict[str, str]) -> pl.DataFrame | None:
    frames = [
        _owners_as_refs(s.load(store), ref_of)
        for s in sorted(sources, key=lambda s: rank(s.system))
        if s.entity == "accounts"
    ]
    if not frames:
        return None
    return pl.concat(frames, how="diagonal_relaxed").unique("id", keep="first")
