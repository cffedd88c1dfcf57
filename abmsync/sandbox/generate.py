"""A seeded, synthetic but realistic B2B data set for demos, tests and benchmarks.

``generate_dataset`` builds accounts, people, touchpoints, opportunities and
owners whose columns are the shared schema (``abmsync.schema``) plus a few
extras: accounts carry a dirty ``website``; people carry the hidden truth
``true_buying_role`` and ``is_competitor``. The data is dirty on purpose, the
way CRM data is: duplicate people, leads without an account but with an email
at the account's domain, free-mail addresses, odd casing and whitespace in
titles, countries typed as "Germany" or "de", missing industries.

Engagement has signal, so scoring and backtests have something to find: it is
heavy-tailed (most people do little, some a lot), people at accounts with an
open opportunity and deciders or influencers do more, and won opportunities
lean towards the accounts that engaged most.

Everything is vectorised with numpy and polars: strings are made once per
small pool and gathered by integer code, and touchpoints are generated in
blocks of people so the peak memory stays close to the size of the result.
The same ``(people, seed, as_of, months, touchpoints_per_person)`` always
gives identical frames; ``as_of`` defaults to a fixed date, not now.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from faker import Faker

from abmsync.sandbox import vocab
from abmsync.schema import (
    ACCOUNT_COLUMNS,
    OPPORTUNITY_COLUMNS,
    PEOPLE_COLUMNS,
    TIMESTAMP,
    TOUCHPOINT_COLUMNS,
    TouchpointType,
    utc,
)

DEFAULT_AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
Format = Literal["csv", "parquet", "jsonl"]
FORMATS: tuple[Format, ...] = ("parquet", "csv", "jsonl")

OWNER_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.String(),
    "name": pl.String(),
    "email": pl.String(),
    "queue": pl.String(),
    "max_open": pl.Int64(),
    "available": pl.Boolean(),
}
DATASET_COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "accounts": {**ACCOUNT_COLUMNS, "website": pl.String()},
    "people": {
        **PEOPLE_COLUMNS,
        "true_buying_role": pl.String(),
        "is_competitor": pl.Boolean(),
        "crm_status": pl.String(),
        "rejection_reason": pl.String(),
    },
    "touchpoints": dict(TOUCHPOINT_COLUMNS),
    "opportunities": dict(OPPORTUNITY_COLUMNS),
    "owners": OWNER_COLUMNS,
}

PEOPLE_PER_ACCOUNT = 12
OPPORTUNITY_SHARE = 0.08  # of accounts
OPEN_OPPORTUNITY_SHARE = 0.35
DUPLICATE_SHARE = 0.015  # of people: a second record of someone already there
COMPETITOR_SHARE = 0.025
LEAD_SHARE = 0.6  # the rest are contacts, always linked to their account
UNLINKED_LEAD_SHARE = 0.15  # leads with no account_id but an email at its domain
FREEMAIL_SHARE = 0.05
MISSING_EMAIL_SHARE = 0.01
UNSUBSCRIBED_SHARE = 0.04
INACTIVE_SHARE = 0.15  # people who never interact
TOUCHPOINT_BLOCK = 1 << 20  # touchpoints generated per block (bounds peak memory)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
MS = 1_000  # microseconds per millisecond
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Dataset:
    """One generated data set: a frame per entity, columns as in ``DATASET_COLUMNS``."""

    accounts: pl.DataFrame
    people: pl.DataFrame
    touchpoints: pl.DataFrame
    opportunities: pl.DataFrame
    owners: pl.DataFrame

    def frames(self) -> dict[str, pl.DataFrame]:
        """The frames by entity name, in the order they are written."""
        return {
            "accounts": self.accounts,
            "people": self.people,
            "touchpoints": self.touchpoints,
            "opportunities": self.opportunities,
            "owners": self.owners,
        }


def generate_dataset(
    people: int,
    *,
    seed: int = 7,
    as_of: datetime | None = None,
    months: int = 12,
    touchpoints_per_person: float = 20.0,
) -> Dataset:
    """Generate ``people`` people with their accounts, touchpoints, opportunities and owners.

    Touchpoints fall in the ``months`` before ``as_of`` (default 2026-11-01 UTC)
    and average ``touchpoints_per_person``. Raises ``ValueError`` for fewer than
    one person or month, or a negative touchpoint rate.
    """
    if people < 1:
        raise ValueError(f"people must be at least 1, got {people}")
    if not 1 <= months <= 600:
        raise ValueError(f"months must be between 1 and 600, got {months}")
    if touchpoints_per_person < 0:
        raise ValueError(
            f"touchpoints_per_person must not be negative, got {touchpoints_per_person}"
        )
    end = utc(as_of or DEFAULT_AS_OF)
    window = _Window(_to_us(_months_before(end, months)), _to_us(end))
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    names = _NamePool.build(seed)

    owners, owner_queue = _owners(streams[0], seed, people)
    accounts = _accounts(max(1, round(people / PEOPLE_PER_ACCOUNT)), streams[1], names, owner_queue)
    frame = _people(people, accounts, names, owner_queue, streams[2], window)
    deals = _pick_opportunity_accounts(frame, accounts, streams[3])
    counts = _touchpoint_counts(frame, deals, touchpoints_per_person, streams[4], window)
    opportunities, frame = _opportunities(frame, accounts, deals, counts, streams[5], window)
    touchpoints = _touchpoints(frame, deals, counts, streams[6], window)
    opportunities = _attribute_campaigns(opportunities, touchpoints)
    return Dataset(
        accounts=_public(accounts.frame, "accounts"),
        people=_public(frame, "people"),
        touchpoints=touchpoints,
        opportunities=opportunities,
        owners=owners,
    )


def write_dataset(data: Dataset, directory: Path, fmt: Format = "parquet") -> dict[str, Path]:
    """Write each frame of ``data`` to ``directory/<entity>.<ext>``; return the paths by entity.

    ``jsonl`` writes one JSON object per line. Creates ``directory`` if needed;
    raises ``OSError`` when it cannot be written.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, frame in data.frames().items():
        path = directory / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.write_parquet(path)
        elif fmt == "csv":
            frame.write_csv(path)
        else:
            frame.write_ndjson(path)
        paths[name] = path
    return paths


def read_dataset(directory: Path, fmt: Format = "parquet") -> Dataset:
    """Read back a data set written by ``write_dataset``, with the generator's dtypes."""
    frames: dict[str, pl.DataFrame] = {}
    for name, columns in DATASET_COLUMNS.items():
        path = directory / f"{name}.{fmt}"
        schema = pl.Schema(columns)
        if fmt == "parquet":
            frames[name] = pl.read_parquet(path)
        elif fmt == "csv":
            frames[name] = pl.read_csv(path, schema=schema)
        else:
            frames[name] = pl.read_ndjson(path, schema=schema)
    return Dataset(**frames)


def _public(frame: pl.DataFrame, entity: str) -> pl.DataFrame:
    """The published columns of ``frame``, in schema order and with the schema's dtypes."""
    return frame.select(pl.col(n).cast(t) for n, t in DATASET_COLUMNS[entity].items())


# --- time ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """The touchpoint window ``[start, end)`` in microseconds since the epoch."""

    start: int
    end: int

    @property
    def span_ms(self) -> int:
        return (self.end - self.start) // MS


def _to_us(value: datetime) -> int:
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _months_before(value: datetime, months: int) -> datetime:
    """The same day and time ``months`` earlier (31 March minus one month is 28/29 February)."""
    year, month = divmod(value.year * 12 + value.month - 1 - months, 12)
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def _calendar_starts(window: _Window, step_months: int) -> list[datetime]:
    """Starts of the calendar months (or quarters, years) that overlap the window."""
    start = datetime.fromtimestamp(window.start / 1e6, UTC)
    index = (start.year * 12 + start.month - 1) // step_months * step_months
    starts: list[datetime] = []
    while True:
        year, month = divmod(index, 12)
        begin = datetime(year, month + 1, 1, tzinfo=UTC)
        if _to_us(begin) >= window.end:
            return starts
        starts.append(begin)
        index += step_months


def _timestamps(us: IntArray) -> pl.Series:
    return pl.Series(us, dtype=pl.Int64).cast(TIMESTAMP)


# --- sampling helpers ---------------------------------------------------------------------


def _choice(rng: np.random.Generator, weights: Sequence[float] | FloatArray, size: int) -> IntArray:
    """Indices into ``weights`` drawn with probability proportional to each weight."""
    return _quantile(weights, rng.random(size))


def _choice_within(
    rng: np.random.Generator, group: IntArray, segments: Sequence[Sequence[float]]
) -> IntArray:
    """For each row, a flat index into ``segments[group[row]]`` drawn by that segment's weights."""
    keys: list[FloatArray] = []
    for number, weights in enumerate(segments):
        cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
        keys.append(number + cumulative / cumulative[-1])
        keys[-1][-1] = number + 1.0
    flat = np.concatenate(keys)
    ends = np.cumsum([len(w) for w in segments])
    found = np.searchsorted(flat, group + rng.random(len(group)), side="right")
    return np.asarray(np.minimum(found, ends[group] - 1), dtype=np.int64)


def _only_where(mask: BoolArray, values: pl.Series) -> pl.Series:
    """``values`` where ``mask`` is true, null elsewhere."""
    return pl.select(pl.when(pl.lit(pl.Series(mask))).then(pl.lit(values))).to_series()


def _gather(pool: Sequence[str | None], codes: npt.NDArray[np.integer]) -> pl.Series:
    """Strings for integer codes into a small pool (a ``None`` in the pool gives null)."""
    return pl.Series(list(pool), dtype=pl.String).gather(codes.astype(np.uint32))


def _plain(text: str) -> str:
    """``text`` in lower-case ASCII, accents dropped: 'Müller' -> 'mueller'."""
    for letter, plain in vocab.TRANSLITERATION.items():
        text = text.replace(letter, plain)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _ascii(text: str) -> str:
    """Letters only, for email addresses: "O'Neil" -> 'oneil', 'Hans-Jürgen' -> 'hansjuergen'."""
    return "".join(ch for ch in _plain(text) if ch.isalpha())


def _label(text: str) -> str:
    """A name as a domain label: 'Müller & Co' -> 'mueller-co'."""
    return re.sub(r"[^a-z0-9]+", "-", _plain(text)).strip("-")


@dataclass(frozen=True)
class _NamePool:
    """First and last names per locale (from seeded Faker), with their ASCII forms."""

    first: list[str]
    first_ascii: list[str]
    last: list[str]
    last_ascii: list[str]
    first_range: list[tuple[int, int]]  # (offset, length) per locale in vocab.NAME_LOCALES
    last_range: list[tuple[int, int]]

    @classmethod
    def build(cls, seed: int, per_locale: int = 250) -> _NamePool:
        first: list[str] = []
        last: list[str] = []
        first_range: list[tuple[int, int]] = []
        last_range: list[tuple[int, int]] = []
        for locale in vocab.NAME_LOCALES:
            fake = Faker(locale)
            fake.seed_instance(seed)
            for names, ranges, draw in (
                (first, first_range, fake.first_name),
                (last, last_range, fake.last_name),
            ):
                # distinct, in draw order; no initials ("Hans-H."), none without letters
                drawn = dict.fromkeys(draw() for _ in range(per_locale))
                usable = [n for n in drawn if _ascii(n) and "." not in n]
                ranges.append((len(names), len(usable)))
                names.extend(usable)
        first_ascii, last_ascii = [_ascii(n) for n in first], [_ascii(n) for n in last]
        return cls(first, first_ascii, last, last_ascii, first_range, last_range)

    def draw(self, rng: np.random.Generator, locale: IntArray, *, last: bool) -> IntArray:
        ranges = np.asarray(self.last_range if last else self.first_range, dtype=np.int64)
        offset = (rng.random(len(locale)) * ranges[locale, 1]).astype(np.int64)
        return np.asarray(ranges[locale, 0] + offset, dtype=np.int64)


def _flag(rng: np.random.Generator, share: float, size: int) -> BoolArray:
    return rng.random(size) < share


def _id_column(prefix: str, start: int, count: int, width: int) -> pl.Expr:
    digits = pl.int_range(start + 1, start + count + 1, dtype=pl.Int64).cast(pl.String)
    return pl.concat_str(pl.lit(prefix), digits.str.zfill(width))


def _ids(prefix: str, count: int, width: int) -> pl.Series:
    return pl.select(_id_column(prefix, 0, count, max(width, len(str(count))))).to_series()


# --- owners and accounts ------------------------------------------------------------------


def _owners(rng: np.random.Generator, seed: int, people: int) -> tuple[pl.DataFrame, IntArray]:
    """About twenty sales reps in four queues; one or two are out of office."""
    names: list[str] = []
    emails: list[str] = []
    queues: list[int] = []
    for queue, (count, locale) in enumerate(
        zip(vocab.OWNERS_PER_QUEUE, vocab.OWNER_LOCALES, strict=True)
    ):
        fake = Faker(locale)
        fake.seed_instance(seed + queue)
        for _ in range(count):
            first, last = fake.first_name(), fake.last_name()
            names.append(f"{first} {last}")
            emails.append(f"{_ascii(first)}.{_ascii(last)}@{vocab.VENDOR_DOMAIN}")
            queues.append(queue)
    available = np.ones(len(names), dtype=bool)
    available[rng.choice(len(names), size=int(rng.integers(1, 3)), replace=False)] = False
    frame = pl.DataFrame(
        {
            "id": _ids("own-", len(names), 3),
            "name": names,
            "email": emails,
            "queue": [vocab.QUEUES[q] for q in queues],
            # A fixed team: its capacity grows with the database, or every rep is full at once.
            "max_open": (
                rng.choice([25, 30, 40, 50, 60], size=len(names)) * max(1, round(people / 4000))
            ).astype(np.int64),
            "available": available,
        },
        schema=OWNER_COLUMNS,
    )
    return frame, np.asarray(queues, dtype=np.int64)


def _owner_in_queue(rng: np.random.Generator, owner_queue: IntArray, queue: IntArray) -> IntArray:
    """A random owner from each row's queue."""
    members = [np.flatnonzero(owner_queue == q) for q in range(len(vocab.QUEUES))]
    sizes = np.asarray([len(m) for m in members])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = np.concatenate(members)
    pick = offsets[queue] + (rng.random(len(queue)) * sizes[queue]).astype(np.int64)
    return np.asarray(flat[pick], dtype=np.int64)


@dataclass(frozen=True)
class _Accounts:
    frame: pl.DataFrame  # public columns plus base_name and the variants people type
    country: IntArray  # index into vocab.COUNTRIES
    employees: FloatArray  # before some are blanked out
    owner: IntArray  # index into owners, -1 for none


def _accounts(
    count: int, rng: np.random.Generator, names: _NamePool, owner_queue: IntArray
) -> _Accounts:
    """Accounts with log-normal, correlated size and revenue and unique names and domains."""
    industries, countries = vocab.INDUSTRIES, vocab.COUNTRIES
    industry = _choice(rng, [i.weight for i in industries], count)
    country = _choice(rng, [c.weight for c in countries], count)
    employees = np.clip(np.round(rng.lognormal(np.log(150), 1.6, count)), 2, 400_000)
    per_employee = np.asarray([i.revenue_per_employee for i in industries])[industry]
    revenue = np.round(employees * per_employee * rng.lognormal(0, 0.5, count), -3)
    words = _choice_within(rng, industry, [[1.0] * len(i.words) for i in industries])
    base_name, label = _unique_names(rng, names, words)

    tld = np.where(rng.random(count) < 0.4, "com", np.asarray([c.tld for c in countries])[country])
    legal = _choice_within(rng, country, [[1.0] * len(c.legal_forms) for c in countries])
    owned = rng.random(count) < np.where(revenue >= 1e8, 0.95, 0.8)
    queue = np.asarray([vocab.QUEUES.index(c.queue) for c in countries])[country]
    owner = np.where(owned, _owner_in_queue(rng, owner_queue, queue), -1)
    blank = rng.random((3, count)) < np.asarray([[0.02], [0.03], [0.03]])
    frame = pl.DataFrame(
        {
            "id": _ids("acc-", count, 6),
            "base_name": base_name,
            "domain": label + "." + pl.Series(tld),
            "legal": _gather([f for c in countries for f in c.legal_forms], legal),
            "industry": _gather([i.name for i in industries], industry),
            "employees": employees.astype(np.int64),
            "annual_revenue": revenue,
            "country": _gather([c.code for c in countries], country),
            "owner_id": _ids("own-", len(owner_queue), 3).gather(np.maximum(owner, 0)),
            "_style": _choice(rng, [45, 10, 15, 15, 10, 5], count),
            "_suffixed": rng.random(count) < 0.25,
            "_owned": owned,
            "_blank_industry": blank[0],
            "_blank_employees": blank[1],
            "_blank_revenue": blank[2],
        }
    ).with_columns(
        name=pl.when("_suffixed")
        .then(pl.concat_str("base_name", "legal", separator=" "))
        .otherwise("base_name"),
        website=_website(pl.col("_style"), pl.col("domain")),
        owner_id=pl.when("_owned").then("owner_id"),
        industry=pl.when(~pl.col("_blank_industry")).then("industry"),
        employees=pl.when(~pl.col("_blank_employees")).then("employees"),
        annual_revenue=pl.when(~pl.col("_blank_revenue")).then("annual_revenue"),
    )
    return _Accounts(frame, country, employees, owner)


def _unique_names(
    rng: np.random.Generator, names: _NamePool, words: IntArray
) -> tuple[pl.Series, pl.Series]:
    """Company names "<brand> <industry word>" and their domain labels, unique by label.

    A name that is taken gets a qualifier ("Group", "International", ...) and,
    when all of those are taken too, a number.
    """
    surnames = sorted({n for n in names.last if n.isalpha() and n[0].isupper()})
    heads = [h + t for h in vocab.BRAND_HEADS for t in vocab.BRAND_TAILS]
    bases = [*vocab.BRAND_WORDS, *heads, *surnames]
    flat_words = [w for i in vocab.INDUSTRIES for w in i.words]
    base = rng.integers(0, len(bases), len(words))
    root_name = _gather(bases, base) + " " + _gather(flat_words, words)
    root_label = _gather([_label(b) for b in bases], base) + "-"
    root_label = root_label + _gather([_label(w) for w in flat_words], words)
    name, label = root_name, root_label
    first = rng.integers(0, len(vocab.NAME_QUALIFIERS), len(words))
    qualifier_labels = [_label(q) for q in vocab.NAME_QUALIFIERS]
    for attempt in range(len(vocab.NAME_QUALIFIERS) + 1):
        taken = ~label.is_first_distinct()
        if not taken.any():
            break
        if attempt < len(vocab.NAME_QUALIFIERS):
            pick = (first + attempt) % len(vocab.NAME_QUALIFIERS)
            extra = _gather(vocab.NAME_QUALIFIERS, pick)
            extra_label = _gather(qualifier_labels, pick)
        else:
            extra = extra_label = pl.int_range(1, len(words) + 1, eager=True).cast(pl.String)
        name = name.zip_with(~taken, root_name + " " + extra)
        label = label.zip_with(~taken, root_label + "-" + extra_label)
    return name, label


def _website(style: pl.Expr, domain: pl.Expr) -> pl.Expr:
    """The account's website as typed into a CRM: scheme, www and trailing slash vary."""
    forms = [
        pl.concat_str(pl.lit("https://www."), domain),
        pl.concat_str(pl.lit("http://"), domain),
        pl.concat_str(pl.lit("www."), domain),
        domain,
        pl.concat_str(pl.lit("https://"), domain, pl.lit("/")),
        pl.concat_str(pl.lit("HTTPS://WWW."), domain.str.to_uppercase(), pl.lit("/")),
    ]
    expr = forms[-1]
    for number, form in reversed(list(enumerate(forms[:-1]))):
        expr = pl.when(style == number).then(form).otherwise(expr)
    return expr


def _company_variants(accounts: pl.DataFrame) -> pl.Series:
    """Per account, the ways people type its name; variant ``v`` of account ``a`` is at
    ``v * len(accounts) + a``: plain, as in the CRM, with legal form, "ACME Robotics
    GmbH", lower-case, trailing space."""
    base = pl.col("base_name")
    first_word = base.str.extract(r"^(\S+)", 1).str.to_uppercase()
    variants = accounts.select(
        base.alias("plain"),
        pl.col("name").alias("crm"),
        pl.concat_str(base, pl.col("legal"), separator=" ").alias("legal"),
        pl.concat_str(first_word, base.str.extract(r"^\S+(.*)$", 1), pl.lit(" "), "legal").alias(
            "shouted"
        ),
        base.str.to_lowercase().alias("lower"),
        pl.concat_str(base, pl.lit(" ")).alias("padded"),
    )
    return pl.concat([variants.to_series(i).alias("company") for i in range(variants.width)])


# --- people -------------------------------------------------------------------------------


def _people(
    total: int,
    accounts: _Accounts,
    names: _NamePool,
    owner_queue: IntArray,
    rng: np.random.Generator,
    window: _Window,
) -> pl.DataFrame:
    """People (leads and contacts) with a few duplicates, ordered by creation, ids assigned.

    Columns starting with ``_`` are hidden truth the generator needs later (the
    real account of an unlinked lead, the buying role code, ...).
    """
    duplicates = round(total * DUPLICATE_SHARE) if total >= 20 else 0
    frame = _distinct_people(total - duplicates, accounts, names, owner_queue, rng, window)
    if duplicates:
        frame = pl.concat([frame, _duplicates(frame, duplicates, rng, window)])
    order = np.argsort(frame["_created"].to_numpy(), kind="stable")
    return frame[order].with_columns(id=_ids("per-", total, 7))


def _distinct_people(
    count: int,
    accounts: _Accounts,
    names: _NamePool,
    owner_queue: IntArray,
    rng: np.random.Generator,
    window: _Window,
) -> pl.DataFrame:
    countries, personas = vocab.COUNTRIES, vocab.PERSONAS
    weight = accounts.employees**0.7 * rng.lognormal(0, 0.5, accounts.frame.height)
    account = _choice(rng, weight, count)
    competitor = _flag(rng, COMPETITOR_SHARE, count)
    lead = competitor | _flag(rng, LEAD_SHARE, count)
    linked = ~competitor & ~(lead & _flag(rng, UNLINKED_LEAD_SHARE, count))
    country = np.where(
        _flag(rng, 0.9, count),
        accounts.country[account],
        _choice(rng, [c.weight for c in countries], count),
    )
    # competitors are marketers and sellers looking at what we do
    snooping = [list(personas).index("marketing"), list(personas).index("sales")]
    persona = np.where(
        competitor,
        np.where(_flag(rng, 0.5, count), *snooping),
        _choice(rng, [share for share, _ in personas.values()], count),
    )
    titles = [t for _, group in personas.values() for t in group]
    title = _choice_within(rng, persona, [[t.weight for t in g] for _, g in personas.values()])
    seniority = np.asarray([vocab.SENIORITIES.index(t.seniority) for t in titles])[title]
    profile = np.cumsum([vocab.ROLE_PROFILES[t.profile] for t in titles], axis=1)
    role = (rng.random(count)[:, None] >= profile[title]).sum(axis=1)  # 5: no role

    locale = np.asarray([c.locale for c in countries])[country]
    first, last = names.draw(rng, locale, last=False), names.draw(rng, locale, last=True)
    rival = rng.integers(0, len(vocab.COMPETITORS), count)
    email = _emails(rng, names, first, last, country, account, competitor, rival, accounts.frame)
    owner = np.where(lead, -1, accounts.owner[account])
    queue = np.asarray([vocab.QUEUES.index(c.queue) for c in countries])[country]
    routed = lead & ~competitor & _flag(rng, 0.2, count)
    owner = np.where(routed, _owner_in_queue(rng, owner_queue, queue), owner)
    created_days = 0.5 + 1825 * rng.random(count) ** 1.6
    created = window.end - (created_days * DAY_MS).astype(np.int64) * MS
    stages = [*vocab.LEAD_STAGES, *vocab.CONTACT_STAGES]
    stage = np.where(
        lead,
        _choice(rng, [w for _, w in vocab.LEAD_STAGES], count),
        len(vocab.LEAD_STAGES) + _choice(rng, [w for _, w in vocab.CONTACT_STAGES], count),
    )
    company = _company_variants(accounts.frame)
    variant = _choice(rng, [50, 20, 12, 5, 3, 3, 7], count)  # the last: no company given
    frame = pl.DataFrame(
        {
            "kind": _gather(["lead", "contact"], (~lead).astype(np.int64)),
            "email": email,
            "first_name": _gather(names.first, first),
            "last_name": _gather(names.last, last),
            "title": _gather([t.title for t in titles], title),
            "seniority": _gather(vocab.SENIORITIES, seniority),
            "persona": _gather(list(personas), persona),
            "company": company.gather(np.minimum(variant, 5) * accounts.frame.height + account),
            "account_id": accounts.frame["id"].gather(account),
            "owner_id": _ids("own-", len(owner_queue), 3).gather(np.maximum(owner, 0)),
            "country": _gather([c.code for c in countries], country),
            "state": _states(rng, [c.code for c in countries], country),
            "postal_code": _postal_codes(rng, [c.code for c in countries], country),
            "lead_source": _gather(
                [s for s, _ in vocab.LEAD_SOURCES] + [None],
                _choice(rng, [w for _, w in vocab.LEAD_SOURCES] + [8.0], count),
            ),
            "unsubscribed": _flag(rng, UNSUBSCRIBED_SHARE, count),
            "stage": _gather([s for s, _ in stages], stage),
            "_created": created,
            "true_buying_role": _gather([*vocab.BUYING_ROLES, None], role),
            "is_competitor": competitor,
            "_account": np.where(competitor, -1, account),
            "_linked": linked,
            "_role": role,
            "_student": seniority == vocab.SENIORITIES.index("Intern/Student"),
            "_utc_offset": np.asarray([c.utc_offset_hours for c in countries])[country],
            "_owned": owner >= 0,
            "_rival": _gather([name for name, _ in vocab.COMPETITORS], rival),
            "_no_company": variant == 6,
            "_consent": _choice(rng, [50, 12, 38], count),  # yes, no, never asked
            "_title_dirt": _choice(rng, [92.5, 2, 2, 1.5, 1, 1], count),
            "_seniority_dirt": _choice(rng, [90, 3, 2, 5], count),
            "_country_dirt": _choice(rng, [95, 3.5, 1.5], count),
            "_country_typed": _gather(
                [d for c in countries for d in c.dirty],
                _choice_within(rng, country, [[1.0] * len(c.dirty) for c in countries]),
            ),
        }
    )
    return frame.with_columns(
        company=pl.when("is_competitor")
        .then("_rival")
        .when(~pl.col("_no_company"))
        .then("company"),
        account_id=pl.when("_linked").then("account_id"),
        owner_id=pl.when("_owned").then("owner_id"),
        consent=pl.when(pl.col("unsubscribed") | (pl.col("_consent") == 1))
        .then(False)
        .when(pl.col("_consent") == 0)
        .then(True),
        created_at=pl.col("_created").cast(TIMESTAMP),
        title=_dirty_title(pl.col("title"), pl.col("_title_dirt")),
        seniority=pl.when(pl.col("_seniority_dirt") == 1)
        .then(pl.col("seniority").str.to_lowercase())
        .when(pl.col("_seniority_dirt") == 2)
        .then(pl.concat_str("seniority", pl.lit(" ")))
        .when(pl.col("_seniority_dirt") == 0)
        .then("seniority"),
        country=pl.when(pl.col("_country_dirt") == 0)
        .then("country")
        .when(pl.col("_country_dirt") == 1)
        .then("_country_typed"),
        **_sales_feedback(rng, pl.col("stage"), count),
    ).drop(
        "_owned", "_rival", "_no_company", "_consent", "_title_dirt", "_seniority_dirt",
        "_country_dirt", "_country_typed",
    )  # fmt: skip


REJECTION_REASONS = ["bad timing", "no budget", "wrong person", "competitor", "no need"]


def _sales_feedback(rng: np.random.Generator, stage: pl.Expr, count: int) -> dict[str, pl.Expr]:
    """The CRM status sales set, by stage; a fifth of rejections give no reason."""
    reason = _gather(REJECTION_REASONS, _choice(rng, [30, 25, 20, 10, 15], count))
    reason_given = pl.Series(rng.random(count) >= 0.2)
    rejected = stage.is_in(["recycled", "disqualified"])
    status = (
        pl.when(stage.is_in(["sal", "sql", "opportunity"])).then(pl.lit("Accepted"))
        .when(rejected).then(pl.lit("Rejected"))
        .when(stage == "mql").then(pl.lit("Open"))
    )  # fmt: skip
    return {
        "crm_status": status,
        "rejection_reason": pl.when(rejected & pl.lit(reason_given)).then(pl.lit(reason)),
    }


US_STATES = ["CA", "NY", "TX", "WA", "MA", "IL", "FL", "GA", "CO", "NC", "NJ", "PA", "OH", "MI"]
US_STATE_WEIGHTS = [18, 12, 11, 7, 7, 6, 6, 5, 5, 5, 5, 5, 4, 4]
FOUR_DIGIT_POSTAL = {"AT", "CH", "NL", "BE", "DK", "NO", "AU"}


def _states(rng: np.random.Generator, codes: list[str], country: IntArray) -> pl.Series:
    """A state for people in the US (territory tables route by it); null elsewhere."""
    us = np.asarray([code == "US" for code in codes])[country]
    state = _gather(US_STATES, _choice(rng, US_STATE_WEIGHTS, len(country)))
    return pl.select(pl.when(pl.Series(us)).then(state)).to_series().alias("state")


def _postal_codes(rng: np.random.Generator, codes: list[str], country: IntArray) -> pl.Series:
    """Numeric postal codes of the country's length (4 or 5 digits); about 10 % unknown."""
    digits = np.asarray([4 if code in FOUR_DIGIT_POSTAL else 5 for code in codes])[country]
    number = rng.integers(1000, 99999, len(country)) % (10**digits)
    known = rng.random(len(country)) >= 0.1
    text = pl.Series(number).cast(pl.String).str.zfill(pl.Series(digits).cast(pl.Int64))
    return pl.select(pl.when(pl.Series(known)).then(text)).to_series().alias("postal_code")


def _dirty_title(title: pl.Expr, dirt: pl.Expr) -> pl.Expr:
    """Titles as people type them: SHOUTED, lower-case, padded, doubled spaces, or missing."""
    return (
        pl.when(dirt == 0)
        .then(title)
        .when(dirt == 1)
        .then(title.str.to_uppercase())
        .when(dirt == 2)
        .then(title.str.to_lowercase())
        .when(dirt == 3)
        .then(pl.concat_str(pl.lit(" "), title, pl.lit("  ")))
        .when(dirt == 4)
        .then(title.str.replace(" ", "  ", literal=True))
    )


def _emails(
    rng: np.random.Generator,
    names: _NamePool,
    first: IntArray,
    last: IntArray,
    country: IntArray,
    account: IntArray,
    competitor: BoolArray,
    rival: IntArray,
    accounts: pl.DataFrame,
) -> pl.Series:
    """Work addresses at the account's domain, some free-mail ones, a few missing or dirty.

    Addresses are unique ignoring case ("john.smith2@..." for a second John
    Smith), so the only duplicates in the data are the intended ones.
    """
    count = len(first)
    free_domains = [
        (*vocab.FREEMAIL_BY_COUNTRY.get(c.code, ()), *vocab.FREEMAIL_GLOBAL)
        for c in vocab.COUNTRIES
    ]
    global_share = [5.0, 2.0, 1.2, 1.0, 0.8]
    free_weights = [[4.0] * (len(d) - len(global_share)) + global_share for d in free_domains]
    free = _choice_within(rng, country, free_weights)
    freemail = ~competitor & _flag(rng, FREEMAIL_SHARE, count)
    pool = pl.concat(
        [
            accounts["domain"],
            pl.Series("domain", [d for group in free_domains for d in group]),
            pl.Series("domain", [d for _, d in vocab.COMPETITORS]),
        ]
    )
    offset_rival = accounts.height + sum(len(d) for d in free_domains)
    domain = np.where(
        competitor, offset_rival + rival, np.where(freemail, accounts.height + free, account)
    )
    frame = pl.DataFrame(
        {
            "first": _gather(names.first_ascii, first),
            "last": _gather(names.last_ascii, last),
            "pattern": _choice(rng, [60, 15, 5, 5, 15], count),
            "number": np.where(freemail & _flag(rng, 0.5, count), rng.integers(10, 100, count), -1),
            "domain": pool.gather(domain),
            "dirt": _choice(rng, [97.7, 1.5, 0.3, 0.5], count),
            "missing": ~competitor & _flag(rng, MISSING_EMAIL_SHARE, count),
        }
    )
    first_, last_, initial = pl.col("first"), pl.col("last"), pl.col("first").str.slice(0, 1)
    pattern = pl.col("pattern")
    local = (
        pl.when(pattern == 0)
        .then(pl.concat_str(first_, pl.lit("."), last_))
        .when(pattern == 1)
        .then(pl.concat_str(initial, last_))
        .when(pattern == 2)
        .then(first_)
        .when(pattern == 3)
        .then(pl.concat_str(first_, pl.lit("_"), last_))
        .otherwise(pl.concat_str(initial, pl.lit("."), last_))
    )
    number = pl.col("number")
    local = pl.when(number >= 0).then(pl.concat_str(local, number.cast(pl.String))).otherwise(local)
    root = pl.col("root")
    frame = frame.with_columns(root=local).with_columns(local="root")
    for attempt in range(20):  # a second John Smith at one domain is john.smith2, and so on
        frame = frame.with_columns(email=pl.concat_str("local", pl.lit("@"), "domain"))
        taken = ~frame["email"].is_first_distinct()
        if not taken.any():
            break
        suffix = (
            pl.lit(str(attempt + 2))
            if attempt < 19
            else pl.concat_str(pl.lit("+"), pl.int_range(pl.len()).cast(pl.String))
        )
        frame = frame.with_columns(
            local=pl.when(taken).then(pl.concat_str(root, suffix)).otherwise("local")
        )
    email, dirt = pl.col("email"), pl.col("dirt")
    return frame.select(
        pl.when(pl.col("missing"))
        .then(None)
        .when(dirt == 1)
        .then(email.str.to_titlecase())
        .when(dirt == 2)
        .then(email.str.to_uppercase())
        .when(dirt == 3)
        .then(pl.concat_str(pl.lit(" "), email, pl.lit(" ")))
        .otherwise(email)
    ).to_series()


def _duplicates(
    frame: pl.DataFrame, count: int, rng: np.random.Generator, window: _Window
) -> pl.DataFrame:
    """Second records of people already there, as form fills and imports create them.

    Same email (or the same in other case or with whitespace), a later creation
    date, usually a fresh lead without account or owner.
    """
    usable = (~frame["is_competitor"] & frame["email"].is_not_null()).to_numpy()
    candidates = np.flatnonzero(usable) if usable.any() else np.arange(frame.height)
    source = rng.choice(candidates, size=count, replace=len(candidates) < count)
    copy = frame[source]
    created = copy["_created"].to_numpy()
    latest = window.end - DAY_MS * MS // 2
    later = created + (rng.random(count) * (latest - created)).astype(np.int64)
    keep_account = _flag(rng, 0.5, count)
    email, style = pl.col("email"), pl.Series(_choice(rng, [60, 15, 10, 15], count))
    return copy.with_columns(
        email=pl.when(style == 1)
        .then(email.str.to_uppercase())
        .when(style == 2)
        .then(email.str.strip_chars().str.to_lowercase())
        .when(style == 3)
        .then(pl.concat_str(email, pl.lit("  ")))
        .otherwise(email),
        kind=pl.lit("lead"),
        stage=_gather(["lead", "subscriber"], _choice(rng, [3, 1], count)),
        account_id=pl.when(pl.Series(keep_account)).then("account_id"),
        _linked=pl.col("_linked") & pl.Series(keep_account),
        owner_id=pl.when(pl.Series(_flag(rng, 0.4, count))).then("owner_id"),
        consent=pl.when(pl.Series(_flag(rng, 0.5, count))).then("consent"),
        lead_source=_gather(
            [s for s, _ in vocab.LEAD_SOURCES],
            _choice(rng, [w for _, w in vocab.LEAD_SOURCES], count),
        ),
        _created=pl.Series(later // MS * MS),
        created_at=pl.Series(later // MS * MS).cast(TIMESTAMP),
    )


# --- opportunities and engagement ---------------------------------------------------------


@dataclass(frozen=True)
class _Deals:
    """Accounts that have an opportunity; per account 0 none, 1 closed, 2 open."""

    account: IntArray  # sorted account indices, one opportunity each
    is_open: BoolArray
    state: npt.NDArray[np.int8]


def _pick_opportunity_accounts(
    frame: pl.DataFrame, accounts: _Accounts, rng: np.random.Generator
) -> _Deals:
    """About 8 % of accounts, among those with a linked person; bigger ones more often."""
    total = accounts.frame.height
    linked = frame.filter("_linked")["_account"].to_numpy()
    people = np.bincount(linked, minlength=total)
    candidates = np.flatnonzero(people)
    count = min(len(candidates), max(1, round(OPPORTUNITY_SHARE * total)))
    weight = np.sqrt(people[candidates]).astype(np.float64)
    chosen = np.sort(rng.choice(candidates, size=count, replace=False, p=weight / weight.sum()))
    is_open = _flag(rng, OPEN_OPPORTUNITY_SHARE, count)
    state = np.zeros(total, dtype=np.int8)
    state[chosen] = np.where(is_open, 2, 1)
    return _Deals(chosen, is_open, state)


def _account_state(frame: pl.DataFrame, deals: _Deals) -> npt.NDArray[np.int8]:
    """Per person, the opportunity state of the company they work at."""
    account = frame["_account"].to_numpy()
    return np.where(account >= 0, deals.state[np.maximum(account, 0)], 0).astype(np.int8)


def _touchpoint_counts(
    frame: pl.DataFrame, deals: _Deals, rate: float, rng: np.random.Generator, window: _Window
) -> IntArray:
    """Touchpoints per person: heavy-tailed, and higher where a deal is open and for deciders."""
    count = frame.height
    if rate == 0:
        return np.zeros(count, dtype=np.int64)
    role = frame["_role"].to_numpy()
    boost = np.asarray([1.8, 1.3, 1.5, 1.0, 0.8, 0.8])[role]  # decider ... gatekeeper, none
    boost = boost * np.asarray([1.0, 1.5, 3.0])[_account_state(frame, deals)]
    boost = np.where(frame["_student"].to_numpy(), boost * 0.5, boost)
    boost = np.where(frame["unsubscribed"].to_numpy(), boost * 0.5, boost)
    boost = np.where(frame["is_competitor"].to_numpy(), boost * 0.7, boost)
    created = frame["_created"].to_numpy()
    active = (window.end - np.maximum(created, window.start)) / (window.end - window.start)
    weight = rng.lognormal(0, 1.3, count) * boost * active**0.6
    weight = np.where(_flag(rng, INACTIVE_SHARE, count), 0.0, weight)
    if weight.sum() == 0:
        return np.zeros(count, dtype=np.int64)
    weight = np.minimum(weight, 40 * weight.mean())  # a few bots are enough
    return np.asarray(rng.poisson(rate * weight / weight.mean()), dtype=np.int64)


def _opportunities(
    frame: pl.DataFrame,
    accounts: _Accounts,
    deals: _Deals,
    counts: IntArray,
    rng: np.random.Generator,
    window: _Window,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One opportunity per chosen account, and people's stages updated to match.

    Closed deals are won more often at accounts that engaged more, and the
    primary contact leans to engaged, senior people, so backtests can see
    marketing's influence.
    """
    total = len(deals.account)
    if total == 0:
        return pl.DataFrame(schema=OPPORTUNITY_COLUMNS), frame
    account = frame["_account"].to_numpy()
    known = account >= 0
    engagement = np.bincount(account[known], weights=counts[known], minlength=accounts.frame.height)
    rank = np.argsort(np.argsort(engagement[deals.account], kind="stable"), kind="stable") + 0.5
    won = ~deals.is_open & (rng.random(total) < 0.2 + 0.45 * rank / total)
    primary = _primary_people(frame, deals, counts, rng)

    span_days = window.span_ms / DAY_MS
    cycle = np.clip(rng.gamma(2.0, 40.0, total), 14, 0.8 * span_days) * DAY_MS
    closed_created = rng.random(total) * (window.span_ms - cycle)
    open_created = window.span_ms * (1 - rng.uniform(0.02, 0.6, total))
    created_ms = np.where(deals.is_open, open_created, closed_created).astype(np.int64)
    closed_ms = (closed_created + cycle).astype(np.int64)
    employees = accounts.employees[deals.account]
    amount = np.maximum(
        np.round(12_000 * (employees / 100) ** 0.45 * rng.lognormal(0, 0.6, total), -2), 2_000
    )
    open_stage = _choice(rng, [w for _, w in vocab.OPEN_OPPORTUNITY_STAGES], total)
    stage_names = [s for s, _ in vocab.OPEN_OPPORTUNITY_STAGES]
    stage = np.where(
        deals.is_open, open_stage, np.where(won, len(stage_names), len(stage_names) + 1)
    )
    product = rng.integers(0, len(vocab.OPPORTUNITY_PRODUCTS), total)
    account_rows = accounts.frame[deals.account]
    opportunities = pl.DataFrame(
        {
            "id": _ids("opp-", total, 6),
            "account_id": account_rows["id"],
            "name": account_rows["name"] + " - " + _gather(vocab.OPPORTUNITY_PRODUCTS, product),
            "amount": amount,
            "stage": _gather([*stage_names, "Closed Won", "Closed Lost"], stage),
            "is_closed": ~deals.is_open,
            "is_won": won,
            "created_at": _timestamps(window.start + created_ms * MS),
            "closed_at": _only_where(~deals.is_open, _timestamps(window.start + closed_ms * MS)),
            "primary_person_id": frame["id"].gather(primary),
            "campaign": pl.Series([None] * total, dtype=pl.String),
        },
        schema=OPPORTUNITY_COLUMNS,
    )
    return opportunities, _stages_after_deals(frame, deals, primary, won, rng)


def _attribute_campaigns(opportunities: pl.DataFrame, touchpoints: pl.DataFrame) -> pl.DataFrame:
    """Each opportunity's campaign: the last one its primary contact engaged with in the
    90 days before the opportunity was created (null when there is none)."""
    primary = opportunities["primary_person_id"].implode()
    last_touch = (
        touchpoints.select("person_id", "occurred_at", "campaign")
        .filter(pl.col("person_id").is_in(primary) & pl.col("campaign").is_not_null())
        .join(
            opportunities.select("id", "primary_person_id", "created_at"),
            left_on="person_id",
            right_on="primary_person_id",
        )
        .filter(
            pl.col("occurred_at").is_between(
                pl.col("created_at") - timedelta(days=90), pl.col("created_at"), closed="left"
            )
        )
        .group_by("id")
        .agg(pl.col("campaign").sort_by("occurred_at").last().alias("attributed"))
    )
    return (
        opportunities.join(last_touch, on="id", how="left", maintain_order="left")
        .with_columns(campaign="attributed")
        .drop("attributed")
    )


def _primary_people(
    frame: pl.DataFrame, deals: _Deals, counts: IntArray, rng: np.random.Generator
) -> IntArray:
    """For each deal, a linked person at its account, drawn with weight (touchpoints + 1) x role."""
    role_weight = np.asarray([3.0, 2.0, 2.0, 1.0, 1.0, 1.0])[frame["_role"].to_numpy()]
    # Efraimidis-Spirakis: the largest log(u) / weight is a weighted draw per group.
    key = np.log(1.0 - rng.random(frame.height)) / ((counts + 1) * role_weight)
    picked = (
        frame.select(pl.int_range(pl.len()).alias("row"), "_account", "_linked", key=pl.Series(key))
        .filter(pl.col("_linked") & pl.col("_account").is_in(deals.account.tolist()))
        .group_by("_account")
        .agg(pl.col("row").sort_by("key").last())
    )
    primary = np.zeros(deals.state.shape[0], dtype=np.int64)
    primary[picked["_account"].to_numpy()] = picked["row"].to_numpy()
    return primary[deals.account]


def _stages_after_deals(
    frame: pl.DataFrame,
    deals: _Deals,
    primary: IntArray,
    won: BoolArray,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Primary contacts of open deals are in 'opportunity'; people at won accounts customers."""
    stage = np.full(frame.height, -1, dtype=np.int64)
    won_accounts = deals.account[won]
    account = frame["_account"].to_numpy()
    at_won = frame["_linked"].to_numpy() & np.isin(account, won_accounts)
    stage[at_won & _flag(rng, 0.6, frame.height)] = 1
    stage[primary[deals.is_open]] = 0
    stage[primary[won]] = 1
    override = _gather([None, "opportunity", "customer"], stage + 1)
    return frame.with_columns(stage=pl.coalesce(override, pl.col("stage")))


# --- touchpoints --------------------------------------------------------------------------

_TYPES = [t.value for t in TouchpointType]
_RATES = {name: (base, hot, system) for name, base, hot, system in vocab.TOUCHPOINT_RATES}
_SYSTEMS = ["hubspot", "salesforce"]
_PAGE_VIEW, _FORM, _DOWNLOAD = (_TYPES.index(t) for t in ("page_view", "form_submit", "download"))
_UNSUBSCRIBE, _WEBINAR, _EVENT = (_TYPES.index(t) for t in ("unsubscribe", "webinar", "event"))
_URLS: list[str | None] = [
    None,
    *(vocab.VENDOR_SITE + p for p, _, _ in vocab.PAGE_PATHS),
    *(vocab.VENDOR_SITE + p + vocab.UTM_SUFFIX for p, _, _ in vocab.PAGE_PATHS),
    *(vocab.VENDOR_SITE + p for p, _, _ in vocab.FORM_PATHS),
    *(vocab.VENDOR_SITE + p for p, _, _ in vocab.DOWNLOAD_PATHS),
]


@dataclass(frozen=True)
class _Campaigns:
    """Campaign names in the window: monthly newsletters, quarterly updates and webinars,
    nurture tracks and yearly events, each section at an offset into ``names``."""

    names: list[str | None]
    month_starts: IntArray  # ms relative to the window start, ascending
    quarter_starts: IntArray
    year_starts: IntArray
    newsletter: int
    update: int
    nurture: int
    webinar: int
    event: int

    @classmethod
    def build(cls, window: _Window) -> _Campaigns:
        months, quarters, years = (_calendar_starts(window, step) for step in (1, 3, 12))
        topics, events = vocab.WEBINAR_TOPICS, vocab.EVENTS
        names: list[str | None] = [None]
        sections = []
        for section in (
            [f"Newsletter {m:%Y-%m}" for m in months],
            [f"Product Update Q{(q.month + 2) // 3} {q.year}" for q in quarters],
            list(vocab.NURTURE_CAMPAIGNS),
            [f"Webinar: {t} (Q{(q.month + 2) // 3} {q.year})" for q in quarters for t in topics],
            [f"{e} {y.year}" for y in years for e in events],
        ):
            sections.append(len(names))
            names.extend(section)

        def relative(starts: list[datetime]) -> IntArray:
            return (np.asarray([_to_us(s) for s in starts], dtype=np.int64) - window.start) // MS

        return cls(names, relative(months), relative(quarters), relative(years), *sections)

    def codes(self, rng: np.random.Generator, kind: IntArray, at: IntArray) -> IntArray:
        """A campaign per touchpoint (0: none) from its type and time (ms in the window)."""
        count = len(kind)
        code = np.zeros(count, dtype=np.int64)
        email = np.isin(kind, [_TYPES.index(t) for t in vocab.EMAIL_TYPES])
        month = np.searchsorted(self.month_starts, at, side="right") - 1
        quarter = np.searchsorted(self.quarter_starts, at, side="right") - 1
        year = np.searchsorted(self.year_starts, at, side="right") - 1
        draw = rng.random(count)
        nurture = self.nurture + rng.integers(0, len(vocab.NURTURE_CAMPAIGNS), count)
        series = np.where(draw < 0.45, self.newsletter + month, self.update + quarter)
        code = np.where(email, np.where(draw < 0.6, series, nurture), code)
        topic = (draw * len(vocab.WEBINAR_TOPICS)).astype(np.int64)
        webinar = self.webinar + quarter * len(vocab.WEBINAR_TOPICS) + topic
        code = np.where(kind == _WEBINAR, webinar, code)
        event = (draw * len(vocab.EVENTS)).astype(np.int64)
        return np.where(kind == _EVENT, self.event + year * len(vocab.EVENTS) + event, code)


def _touchpoints(
    frame: pl.DataFrame, deals: _Deals, counts: IntArray, rng: np.random.Generator, window: _Window
) -> pl.DataFrame:
    """All touchpoints, sorted by (person_id, occurred_at), built in blocks of people."""
    total = int(counts.sum())
    if total == 0:
        return pl.DataFrame(schema=TOUCHPOINT_COLUMNS)
    people = _Engaged(
        counts=counts,
        start=np.maximum(frame["_created"].to_numpy() - window.start, 0) // MS,
        hot=_account_state(frame, deals) == 2,
        has_email=frame["email"].is_not_null().to_numpy(),
        unsubscribed=frame["unsubscribed"].to_numpy(),
        utc_offset=frame["_utc_offset"].to_numpy().astype(np.int64),
        ids=frame["id"],
        account_ids=frame["account_id"],
    )
    ends = np.cumsum(counts)
    cuts = np.searchsorted(ends, np.arange(TOUCHPOINT_BLOCK, total, TOUCHPOINT_BLOCK), side="left")
    edges = np.unique(np.concatenate([[0], cuts + 1, [frame.height]]))
    campaigns = _Campaigns.build(window)
    width = max(8, len(str(total)))
    blocks = [
        _touchpoint_block(people, int(lo), int(hi), block_rng, window, campaigns, width)
        for lo, hi, block_rng in zip(edges[:-1], edges[1:], rng.spawn(len(edges) - 1), strict=True)
    ]
    return pl.concat([b for b in blocks if b.height], rechunk=False)


@dataclass(frozen=True)
class _Engaged:
    """What touchpoint generation needs per person, in people order."""

    counts: IntArray
    start: IntArray  # ms into the window at which the person can first engage
    hot: BoolArray
    has_email: BoolArray
    unsubscribed: BoolArray
    utc_offset: IntArray
    ids: pl.Series
    account_ids: pl.Series


def _touchpoint_block(
    people: _Engaged,
    lo: int,
    hi: int,
    rng: np.random.Generator,
    window: _Window,
    campaigns: _Campaigns,
    width: int,
) -> pl.DataFrame:
    """The touchpoints of people ``lo`` to ``hi`` (exclusive), sorted by person and time."""
    counts = people.counts[lo:hi]
    total = int(counts.sum())
    first_id = int(people.counts[:lo].sum())
    local = np.repeat(np.arange(hi - lo, dtype=np.int64), counts)
    begin = people.start[lo:hi][local]
    at = begin + (rng.random(total) * (window.span_ms - begin)).astype(np.int64)
    at = _office_hours(rng, at, begin, people.utc_offset[lo:hi][local], window)
    # one sort of (person, time) packed into a single integer key
    key = local * (window.span_ms + 1) + at
    key.sort()
    at = key - local * (window.span_ms + 1)
    del key, begin

    hot = people.hot[lo:hi][local]
    kind = _kinds(rng, hot)
    email_kind = np.isin(kind, [_TYPES.index(t) for t in vocab.EMAIL_TYPES])
    kind[email_kind & ~people.has_email[lo:hi][local]] = _PAGE_VIEW
    leaving = people.unsubscribed[lo:hi] & (counts > 0)
    kind[(np.cumsum(counts) - 1)[leaving]] = _UNSUBSCRIBE  # their last touch
    system = np.asarray([_SYSTEMS.index(_RATES.get(t, (0, 0, "hubspot"))[2]) for t in _TYPES])
    rows = local + lo
    return pl.DataFrame(
        {
            "id": pl.select(_id_column("tp-", first_id, total, width)).to_series(),
            "person_id": people.ids.gather(rows),
            "account_id": people.account_ids.gather(rows),
            "type": _gather(_TYPES, kind),
            "occurred_at": _timestamps(window.start + at * MS),
            "campaign": _gather(campaigns.names, campaigns.codes(rng, kind, at)),
            "url": _gather(_URLS, _url_codes(rng, kind, hot)),
            "source_system": _gather(_SYSTEMS, system[kind]),
        },
        schema=TOUCHPOINT_COLUMNS,
    )


def _kinds(rng: np.random.Generator, hot: BoolArray) -> IntArray:
    """Touchpoint type codes (into ``_TYPES``), hot people with more sales contact."""
    ordinary = [_RATES.get(t, (0.0, 0.0, ""))[0] for t in _TYPES]
    engaged = [_RATES.get(t, (0.0, 0.0, ""))[1] for t in _TYPES]
    draw = rng.random(len(hot))
    return np.where(hot, _quantile(engaged, draw), _quantile(ordinary, draw))


def _quantile(weights: Sequence[float] | FloatArray, draw: FloatArray) -> IntArray:
    """Indices into ``weights`` for uniform draws in [0, 1): the inverse of their CDF."""
    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
    found = np.searchsorted(cumulative / cumulative[-1], draw, side="right")
    return np.minimum(found, len(weights) - 1).astype(np.int64)


def _url_codes(rng: np.random.Generator, kind: IntArray, hot: BoolArray) -> IntArray:
    """A url (code into ``_URLS``) for page views, form fills and downloads; 0 for others."""
    code = np.zeros(len(kind), dtype=np.int64)
    pages, forms = len(vocab.PAGE_PATHS), len(vocab.FORM_PATHS)
    sections = (
        (_PAGE_VIEW, vocab.PAGE_PATHS, 1),
        (_FORM, vocab.FORM_PATHS, 1 + 2 * pages),
        (_DOWNLOAD, vocab.DOWNLOAD_PATHS, 1 + 2 * pages + forms),
    )
    for type_code, paths, offset in sections:
        rows = np.flatnonzero(kind == type_code)
        draw = rng.random(len(rows))
        ordinary = _quantile([p[1] for p in paths], draw)
        pick = np.where(hot[rows], _quantile([p[2] for p in paths], draw), ordinary)
        code[rows] = offset + pick
    # some page views arrive from a newsletter link and keep its tracking parameters
    tagged = (kind == _PAGE_VIEW) & _flag(rng, 0.08, len(kind))
    return np.where(tagged, code + pages, code)


def _office_hours(
    rng: np.random.Generator, at: IntArray, begin: IntArray, utc_offset: IntArray, window: _Window
) -> IntArray:
    """Move most touches into local office hours on weekdays (where they stay in range)."""
    count = len(at)
    shift = utc_offset * 3_600_000 + window.start // MS
    day = (at + shift) // DAY_MS
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    weekday_instead = day - weekday + rng.integers(0, 5, count)  # same week, Monday to Friday
    day = np.where((weekday >= 5) & _flag(rng, 0.8, count), weekday_instead, day)
    clock = (np.clip(rng.normal(13.0, 2.5, count), 0.0, 23.99) * 3_600_000).astype(np.int64)
    moved = day * DAY_MS + clock - shift
    keep = _flag(rng, 0.85, count) & (moved >= begin) & (moved < window.span_ms)
    return np.where(keep, moved, at)
