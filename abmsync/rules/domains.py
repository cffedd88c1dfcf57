"""Web domains: normalizing them and matching leads to accounts by email domain.

A lead that arrives without an account (a web-form fill, a list import) can
usually be placed by its email address: ``jane@eu.acme.com`` works at the
account whose website is ``https://www.acme.com/``. The rules, in order:

1. Only people with no ``account_id`` and an email address are matched.
2. Free-mail domains (gmail.com, gmx.de, ...) never match anything.
3. The most specific domain wins: the email's own domain first, then its
   parents one label at a time (``mail.eu.acme.com`` → ``eu.acme.com`` →
   ``acme.com``), never down to a public suffix: at least two labels, three
   under a known second-level suffix such as ``co.uk``.
4. An account matches on any of its domains (``domain``, ``website`` and an
   optional ``domains`` list).
5. When several accounts share the winning domain, the one with the most
   employees wins (unknown counts last), then the lowest account id; the
   ``reason`` says so.

Everything is joins over unique domains, so a million people match in well
under a second once their email domains are known.
"""

from __future__ import annotations

import re

import polars as pl

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        # Google, Microsoft, Yahoo, Apple, AOL
        "gmail.com", "googlemail.com",
        "outlook.com", "outlook.de", "outlook.fr", "outlook.es", "outlook.it", "outlook.co.uk",
        "hotmail.com", "hotmail.de", "hotmail.fr", "hotmail.es", "hotmail.it", "hotmail.co.uk",
        "hotmail.nl", "hotmail.be", "hotmail.ch", "hotmail.com.br",
        "live.com", "live.de", "live.fr", "live.nl", "live.it", "live.co.uk", "live.com.au",
        "msn.com", "windowslive.com", "passport.com",
        "yahoo.com", "yahoo.de", "yahoo.fr", "yahoo.es", "yahoo.it", "yahoo.co.uk", "yahoo.ca",
        "yahoo.com.au", "yahoo.co.jp", "yahoo.com.br", "yahoo.co.in", "yahoo.in", "yahoo.com.mx",
        "yahoo.com.ar", "yahoo.com.sg", "yahoo.com.hk", "yahoo.co.nz", "yahoo.ie", "yahoo.se",
        "yahoo.nl", "yahoo.gr", "ymail.com", "rocketmail.com",
        "icloud.com", "me.com", "mac.com",
        "aol.com", "aol.de", "aol.fr", "aol.co.uk", "aim.com",
        # German-speaking countries
        "gmx.de", "gmx.net", "gmx.at", "gmx.ch", "gmx.com", "gmx.fr", "gmx.us",
        "web.de", "t-online.de", "freenet.de", "arcor.de", "posteo.de", "mailbox.org",
        "online.de", "email.de", "vodafone.de", "bluewin.ch", "hispeed.ch", "sunrise.ch",
        "aon.at", "chello.at", "a1.net",
        # Privacy-focused and independent providers
        "proton.me", "protonmail.com", "protonmail.ch", "pm.me",
        "tutanota.com", "tutanota.de", "tuta.io", "tuta.com",
        "fastmail.com", "fastmail.fm", "hushmail.com", "hey.com",
        "zoho.com", "zohomail.com", "zohomail.eu",
        "mail.com", "email.com", "usa.com", "inbox.com",
        # Europe
        "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr", "neuf.fr", "bbox.fr",
        "libero.it", "virgilio.it", "alice.it", "tiscali.it", "tin.it",
        "btinternet.com", "sky.com", "virginmedia.com", "talktalk.net", "ntlworld.com",
        "blueyonder.co.uk",
        "telenet.be", "skynet.be", "ziggo.nl", "kpnmail.nl", "planet.nl", "home.nl",
        "telia.com", "seznam.cz", "centrum.cz", "wp.pl", "o2.pl", "onet.pl", "interia.pl",
        "terra.es", "telefonica.net", "sapo.pt", "abv.bg", "freemail.hu", "citromail.hu",
        # Russia, Asia, Latin America
        "mail.ru", "bk.ru", "inbox.ru", "list.ru", "yandex.ru", "yandex.com", "ya.ru",
        "rambler.ru",
        "qq.com", "foxmail.com", "163.com", "126.com", "yeah.net", "sina.com", "sina.cn",
        "sohu.com", "aliyun.com", "naver.com", "daum.net", "hanmail.net",
        "rediffmail.com", "uol.com.br", "bol.com.br", "terra.com.br", "ig.com.br",
        # North American ISPs
        "comcast.net", "verizon.net", "att.net", "sbcglobal.net", "cox.net", "charter.net",
        "earthlink.net", "bellsouth.net", "shaw.ca", "rogers.com", "sympatico.ca",
        "optusnet.com.au", "bigpond.com", "xtra.co.nz",
    }
)  # fmt: skip
"""Domains of public email providers: an address there says nothing about an employer."""

SECOND_LEVEL_SUFFIXES: frozenset[str] = frozenset(
    {
        "co.uk", "org.uk", "ac.uk", "gov.uk", "ltd.uk", "plc.uk", "me.uk", "net.uk", "nhs.uk",
        "com.au", "net.au", "org.au", "edu.au", "gov.au",
        "co.nz", "org.nz", "net.nz", "govt.nz", "ac.nz",
        "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp",
        "com.br", "net.br", "org.br", "gov.br",
        "co.in", "net.in", "org.in", "firm.in", "gen.in", "ind.in",
        "co.za", "org.za", "co.il", "org.il", "co.kr", "or.kr",
        "com.cn", "net.cn", "org.cn", "com.hk", "com.tw", "com.sg", "com.my", "co.id", "co.th",
        "com.mx", "com.ar", "com.co", "com.pe", "com.tr", "com.pl", "com.ua", "com.eg", "com.sa",
        "co.at", "or.at", "ac.at", "gv.at",
    }
)  # fmt: skip
"""Public suffixes of two labels: ``acme.co.uk`` is a company, ``co.uk`` is not."""

MATCH_COLUMNS: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "account_id": pl.String(),
    "matched_domain": pl.String(),
    "reason": pl.String(),
}
ACCOUNT_DOMAIN_COLUMNS: dict[str, pl.DataType] = {"account_id": pl.String(), "domain": pl.String()}

# Account columns a domain may come from, in the order a tie between them is named.
_SOURCES = ("domain", "website", "domains")
_SOURCE_LABEL = {"domain": "domain", "website": "website", "domains": "domain list"}

# The steps from a URL, host or email address to a bare host; the same regular
# expressions run in Python (one value) and in polars (a column), so both agree.
_STEPS: tuple[tuple[str, str], ...] = (
    (r"^mailto:", ""),  # mailto:jane@acme.com
    (r"^(?:[a-z][a-z0-9+.\-]*:)?//", ""),  # scheme:// or protocol-relative //
    (r"[/?#\\>].*$", ""),  # path, query, fragment; "Jane <jane@acme.com>"
    (r"^.*@", ""),  # credentials, or the local part of an email address
    (r":.*$", ""),  # port
    (r"\.+$", ""),  # trailing dot of a fully qualified name
    (r"^www\.", ""),
)
# A usable host: dot-separated non-empty labels with no space or URL punctuation.
_HOST = r"^[^\s.<>\"'`,;()\[\]{}|!*&=+$%^~]+(?:\.[^\s.<>\"'`,;()\[\]{}|!*&=+$%^~]+)+$"
_COMPILED_STEPS = tuple((re.compile(pattern), value) for pattern, value in _STEPS)
_COMPILED_HOST = re.compile(_HOST)


def normalize_domain(value: str | None) -> str | None:
    """The lower-case host in a URL, host name or email address, or ``None``.

    ``" HTTPS://user:pw@WWW.Acme.com:8443/about?x=1 "`` and ``"jane@acme.com"``
    both give ``"acme.com"``. Scheme, credentials, a leading ``www.``, port,
    path, query, fragment, a trailing dot and surrounding whitespace are
    dropped; international names are kept as written (not converted to
    punycode). Anything that is not a dotted host name gives ``None``.
    """
    if value is None:
        return None
    text = value.strip().lower()
    for pattern, replacement in _COMPILED_STEPS:
        text = pattern.sub(replacement, text, count=1)
    return text if _COMPILED_HOST.match(text) else None


def domain_expr(value: pl.Expr) -> pl.Expr:
    """:func:`normalize_domain` as a polars expression over a text column."""
    text = value.str.strip_chars().str.to_lowercase()
    for pattern, replacement in _STEPS:
        text = text.str.replace(pattern, replacement)
    return pl.when(text.str.contains(_HOST)).then(text)


def is_free_mail(domain: pl.Expr) -> pl.Expr:
    """True where ``domain`` (already normalized) belongs to a public email provider."""
    return domain.is_in(pl.Series(sorted(FREE_MAIL_DOMAINS), dtype=pl.String()).implode())


def account_domains(accounts: pl.DataFrame) -> pl.DataFrame:
    """Each account's distinct web domains: columns ``account_id`` and ``domain``.

    Domains come from ``domain``, ``website`` and an optional ``domains``
    column (a list of text, or text separated by ``;``, ``,`` or spaces),
    normalized with :func:`normalize_domain`. Free-mail domains are never
    listed: an account whose website is ``gmail.com`` must not collect every
    Gmail user.
    """
    return _domain_sources(accounts).select(list(ACCOUNT_DOMAIN_COLUMNS))


def match_people_to_accounts(people: pl.DataFrame, accounts: pl.DataFrame) -> pl.DataFrame:
    """Accounts for people who have none, found by their email domain.

    ``people`` needs ``id``, ``email`` and ``account_id``; ``accounts`` needs
    ``id`` and the domain columns :func:`account_domains` reads (``name`` and
    ``employees`` are used when present). Returns one row per matched person,
    in the order of ``people``: ``person_id``, ``account_id``,
    ``matched_domain`` (the account's domain that matched) and a readable
    ``reason``. See the module docstring for the rules.
    """
    has_email = pl.col("email").str.contains("@", literal=True)
    if "account_id" in people.columns:
        account = pl.col("account_id").cast(pl.String).str.strip_chars()
        has_email = has_email & (account.is_null() | (account == ""))
    unlinked = people.lazy().filter(has_email)
    # Normalize each distinct raw domain once, not once per person.
    people_raw = unlinked.select(
        pl.col("id").cast(pl.String).alias("person_id"),
        pl.col("email").str.split("@").list.last().alias("_raw"),
    )
    raw_domains = (
        people_raw.select("_raw")
        .unique()
        .with_columns(domain_expr(pl.col("_raw")).alias("email_domain"))
        .filter(pl.col("email_domain").is_not_null() & ~is_free_mail(pl.col("email_domain")))
    )
    best = _best_account_per_domain(
        raw_domains.select("email_domain").unique(), _domain_sources(accounts), accounts
    ).select("email_domain", "account_id", "matched_domain", _reason().alias("reason"))
    matched_raw = raw_domains.join(best, on="email_domain", how="inner").drop("email_domain")
    return (
        people_raw.join(matched_raw, on="_raw", how="inner", maintain_order="left")
        .select(list(MATCH_COLUMNS))
        .collect()
    )


def parent_levels(email_domain: pl.Expr) -> pl.Expr:
    """How many leading labels of an email domain may be dropped, most specific first.

    ``mail.eu.acme.co.uk`` gives ``[0, 1, 2]`` (``mail.eu.acme.co.uk``,
    ``eu.acme.co.uk``, ``acme.co.uk``): parents down to two labels, or three
    under a second-level suffix such as ``co.uk``.
    """
    labels = email_domain.str.split(".")
    count = labels.list.len().cast(pl.Int64)
    suffix = labels.list.slice(-2).list.join(".")
    floor = pl.when(suffix.is_in(_second_level())).then(3).otherwise(2)
    levels = pl.max_horizontal(count - floor + 1, pl.lit(1, dtype=pl.Int64))
    return pl.int_ranges(0, levels, dtype=pl.Int64)


def _second_level() -> pl.Series:
    return pl.Series(sorted(SECOND_LEVEL_SUFFIXES), dtype=pl.String()).implode()


def _domain_sources(accounts: pl.DataFrame) -> pl.DataFrame:
    """Columns account_id, domain, source: one row per account and domain, the first
    source in ``_SOURCES`` order naming it."""
    parts: list[pl.LazyFrame] = []
    frame = accounts.lazy()
    schema = accounts.schema
    for rank, source in enumerate(_SOURCES):
        if source not in schema:
            continue
        column = pl.col(source)
        if isinstance(schema[source], pl.List):
            values = column.cast(pl.List(pl.String()))
        elif source == "domains":
            values = column.cast(pl.String).str.replace_all(r"[;,\s]+", ",").str.split(",")
        else:
            values = column.cast(pl.String)
        part = frame.select(
            pl.col("id").cast(pl.String).alias("account_id"),
            values.alias("raw"),
            pl.lit(rank, dtype=pl.Int8).alias("rank"),
            pl.lit(source).alias("source"),
        )
        if source == "domains":
            part = part.explode("raw")
        parts.append(part)
    if not parts:
        return pl.DataFrame(schema={**ACCOUNT_DOMAIN_COLUMNS, "source": pl.String()})
    return (
        pl.concat(parts)
        .with_columns(domain_expr(pl.col("raw")).alias("domain"))
        .filter(pl.col("domain").is_not_null() & ~is_free_mail(pl.col("domain")))
        .sort("rank", maintain_order=True)
        .unique(["account_id", "domain"], keep="first", maintain_order=True)
        .select("account_id", "domain", "source")
        .collect()
    )


def _best_account_per_domain(
    email_domains: pl.LazyFrame, sources: pl.DataFrame, accounts: pl.DataFrame
) -> pl.LazyFrame:
    """Per email domain, the winning account and the facts its reason needs."""
    schema = accounts.schema
    facts = accounts.lazy().select(
        pl.col("id").cast(pl.String).alias("account_id"),
        (pl.col("name").cast(pl.String) if "name" in schema else pl.lit(None, pl.String)).alias(
            "account_name"
        ),
        (
            pl.col("employees").cast(pl.Int64) if "employees" in schema else pl.lit(None, pl.Int64)
        ).alias("employees"),
    )
    facts = facts.unique("account_id", keep="first", maintain_order=True)
    candidates = (
        email_domains.with_columns(parent_levels(pl.col("email_domain")).alias("level"))
        .explode("level")
        .with_columns(
            pl.col("email_domain")
            .str.split(".")
            .list.slice(pl.col("level"))
            .list.join(".")
            .alias("matched_domain")
        )
    )
    matches = (
        candidates.join(
            sources.lazy().rename({"domain": "matched_domain"}), on="matched_domain", how="inner"
        )
        .join(facts, on="account_id", how="left")
        # Only the most specific matching level counts.
        .filter(pl.col("level") == pl.col("level").min().over("email_domain"))
        .with_columns(pl.len().over("email_domain").alias("sharing"))
    )
    return matches.sort(
        ["email_domain", "employees", "account_id"],
        descending=[False, True, False],
        nulls_last=True,
    ).unique("email_domain", keep="first")


def _reason() -> pl.Expr:
    """'email domain eu.acme.com is under acme.com, Acme GmbH's website' and the tie-break."""
    account = pl.coalesce(pl.col("account_name"), pl.col("account_id"))
    source = pl.col("source").replace_strict(_SOURCE_LABEL, return_dtype=pl.String)
    exact = pl.concat_str(
        pl.lit("email domain "),
        pl.col("email_domain"),
        pl.lit(" matches "),
        account,
        pl.lit("'s "),
        source,
    )
    parent = pl.concat_str(
        pl.lit("email domain "),
        pl.col("email_domain"),
        pl.lit(" is under "),
        pl.col("matched_domain"),
        pl.lit(", "),
        account,
        pl.lit("'s "),
        source,
    )
    tie = pl.concat_str(
        pl.lit(" (chosen from "),
        pl.col("sharing").cast(pl.String),
        pl.lit(" accounts with this domain: most employees, then lowest id)"),
    )
    base = pl.when(pl.col("level") == 0).then(exact).otherwise(parent)
    return pl.when(pl.col("sharing") > 1).then(pl.concat_str(base, tie)).otherwise(base)


def link_people_to_accounts(
    people: pl.DataFrame, accounts: pl.DataFrame | None
) -> tuple[pl.DataFrame, int]:
    """``people`` with ``account_id`` filled, where empty, from :func:`match_people_to_accounts`;
    and how many people were matched."""
    if accounts is None or "email" not in people.columns:
        return people, 0
    if "account_id" not in people.columns:
        people = people.with_columns(pl.lit(None, dtype=pl.String()).alias("account_id"))
    matches = match_people_to_accounts(people, accounts).select(
        pl.col("person_id").alias("id"), pl.col("account_id").alias("__matched")
    )
    people = (
        people.join(matches, on="id", how="left", maintain_order="left")
        .with_columns(pl.coalesce("account_id", "__matched").alias("account_id"))
        .drop("__matched")
    )
    return people, matches.height
