"""Domains: normalizing URLs, hosts and emails, and matching leads to accounts by domain."""

from __future__ import annotations

import random
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from abmsync.rules.domains import (
    FREE_MAIL_DOMAINS,
    account_domains,
    domain_expr,
    match_people_to_accounts,
    normalize_domain,
    parent_levels,
)
from abmsync.sandbox.generate import generate_dataset

NORMALIZED = [
    ("acme.com", "acme.com"),
    ("ACME.COM", "acme.com"),
    ("  acme.com \t\n", "acme.com"),
    ("www.acme.com", "acme.com"),
    ("WWW.Acme.Com", "acme.com"),
    ("https://www.acme.com/", "acme.com"),
    ("HTTPS://WWW.ACME.COM/", "acme.com"),
    ("http://acme.com", "acme.com"),
    ("ftp://files.acme.com/pub", "files.acme.com"),
    ("//acme.com/about", "acme.com"),
    ("https://acme.com:8443/about?x=1#top", "acme.com"),
    ("acme.com:8080", "acme.com"),
    ("acme.com/de/kontakt", "acme.com"),
    ("acme.com?utm_source=x", "acme.com"),
    ("https://user:secret@www.acme.com:444/", "acme.com"),
    ("acme.com.", "acme.com"),
    ("https://eu.shop.acme.co.uk/basket", "eu.shop.acme.co.uk"),
    ("www2.acme.com", "www2.acme.com"),
    ("wwwacme.com", "wwwacme.com"),
    ("jane.doe@acme.com", "acme.com"),
    (" Jane.Doe@ACME.com ", "acme.com"),
    ("jane@mail.eu.acme.com", "mail.eu.acme.com"),
    ("mailto:jane@acme.com", "acme.com"),
    ("Jane Doe <jane@acme.com>", "acme.com"),
    ("https://www.münchen-räder.de/", "münchen-räder.de"),
    ("xn--mnchen-3ya.de", "xn--mnchen-3ya.de"),
    ("", None),
    ("   ", None),
    ("n/a", None),
    ("localhost", None),
    ("http://intranet/", None),
    ("acme..com", None),
    ("acme corp.com", None),
    ("jane@", None),
    (None, None),
]


@pytest.mark.parametrize(("value", "expected"), NORMALIZED)
def test_normalize_domain(value: str | None, expected: str | None) -> None:
    assert normalize_domain(value) == expected


@pytest.mark.parametrize(("value", "expected"), NORMALIZED)
def test_the_column_expression_normalizes_like_the_function(
    value: str | None, expected: str | None
) -> None:
    column = pl.Series("v", [value], dtype=pl.String())
    assert pl.select(domain_expr(pl.lit(column))).item() == expected


@given(st.text(alphabet="aAbBzZ019.-_:/@?#<> \twW", max_size=30))
def test_column_expression_and_function_agree_on_any_text(value: str) -> None:
    column = pl.Series("v", [value], dtype=pl.String())
    assert pl.select(domain_expr(pl.lit(column))).item() == normalize_domain(value)


@pytest.mark.parametrize(
    ("email_domain", "candidates"),
    [
        ("acme.com", ["acme.com"]),
        ("eu.acme.com", ["eu.acme.com", "acme.com"]),
        ("mail.eu.acme.com", ["mail.eu.acme.com", "eu.acme.com", "acme.com"]),
        ("acme.co.uk", ["acme.co.uk"]),
        ("shop.acme.co.uk", ["shop.acme.co.uk", "acme.co.uk"]),
        ("a.b.acme.com.au", ["a.b.acme.com.au", "b.acme.com.au", "acme.com.au"]),
        ("x.acme.co.jp", ["x.acme.co.jp", "acme.co.jp"]),
        ("co.uk", ["co.uk"]),
    ],
)
def test_parent_domains_stop_before_the_public_suffix(
    email_domain: str, candidates: list[str]
) -> None:
    frame = pl.DataFrame({"d": [email_domain]})
    found = (
        frame.with_columns(parent_levels(pl.col("d")).alias("level"))
        .explode("level")
        .select(pl.col("d").str.split(".").list.slice(pl.col("level")).list.join("."))
        .to_series()
        .to_list()
    )
    assert found == candidates


def accounts(*rows: dict[str, Any]) -> pl.DataFrame:
    base = {"name": None, "domain": None, "website": None, "employees": None}
    return pl.DataFrame(
        [{**base, **row} for row in rows],
        schema_overrides={"employees": pl.Int64(), "domain": pl.String(), "website": pl.String()},
    )


def people(*rows: tuple[str, str | None, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"id": i, "email": e, "account_id": a} for i, e, a in rows],
        schema={"id": pl.String(), "email": pl.String(), "account_id": pl.String()},
    )


def matched(result: pl.DataFrame) -> dict[str, str]:
    return dict(zip(result["person_id"], result["account_id"], strict=True))


def test_account_domains_come_from_domain_website_and_a_domain_list() -> None:
    frame = pl.DataFrame(
        {
            "id": ["a1", "a2"],
            "domain": ["acme.com", None],
            "website": ["https://www.ACME.com/", "http://globex.de/home"],
            "domains": [["acme.de", "ACME.fr", "gmail.com"], []],
        }
    )
    result = account_domains(frame)
    assert result.columns == ["account_id", "domain"]
    assert sorted(result.rows()) == [
        ("a1", "acme.com"),
        ("a1", "acme.de"),
        ("a1", "acme.fr"),
        ("a2", "globex.de"),
    ]


def test_a_text_domain_list_may_be_separated_by_semicolons_commas_or_spaces() -> None:
    frame = pl.DataFrame({"id": ["a1"], "domains": ["acme.com; acme.de,acme.fr  www.acme.it"]})
    assert sorted(account_domains(frame)["domain"]) == ["acme.com", "acme.de", "acme.fr", "acme.it"]


def test_free_mail_domains_are_never_an_accounts_domain() -> None:
    frame = accounts(
        {"id": "a1", "domain": "gmail.com", "website": "https://www.gmx.de"},
        {"id": "a2", "website": "web.de"},
    )
    assert account_domains(frame).height == 0


def test_the_free_mail_list_covers_the_big_providers() -> None:
    for domain in ("gmail.com", "yahoo.co.uk", "hotmail.de", "gmx.net", "web.de", "proton.me"):
        assert domain in FREE_MAIL_DOMAINS
    assert "acme.com" not in FREE_MAIL_DOMAINS


def test_a_person_matches_the_account_whose_website_is_their_email_domain() -> None:
    result = match_people_to_accounts(
        people(("p1", "Jane@ACME.com", None)),
        accounts({"id": "a1", "name": "Acme GmbH", "website": "https://www.acme.com/"}),
    )
    assert result.columns == ["person_id", "account_id", "matched_domain", "reason"]
    assert result.row(0) == (
        "p1",
        "a1",
        "acme.com",
        "email domain acme.com matches Acme GmbH's website",
    )


def test_a_reason_names_the_domain_field_before_the_website() -> None:
    result = match_people_to_accounts(
        people(("p1", "jane@acme.com", None)),
        accounts({"id": "a1", "name": "Acme", "website": "acme.com", "domain": "www.acme.com"}),
    )
    assert result["reason"].to_list() == ["email domain acme.com matches Acme's domain"]


def test_a_subdomain_matches_its_parent_domain() -> None:
    result = match_people_to_accounts(
        people(("p1", "jane@mail.eu.acme.com", None)),
        accounts({"id": "a1", "name": "Acme", "domain": "acme.com"}),
    )
    assert result.row(0) == (
        "p1",
        "a1",
        "acme.com",
        "email domain mail.eu.acme.com is under acme.com, Acme's domain",
    )


def test_the_most_specific_domain_wins() -> None:
    result = match_people_to_accounts(
        people(("p1", "jane@mail.eu.acme.com", None), ("p2", "joe@us.acme.com", None)),
        accounts(
            {"id": "a1", "name": "Acme", "domain": "acme.com", "employees": 90_000},
            {"id": "a2", "name": "Acme Europe", "domain": "eu.acme.com", "employees": 10},
        ),
    )
    assert matched(result) == {"p1": "a2", "p2": "a1"}
    assert result.filter(pl.col("person_id") == "p1")["matched_domain"].item() == "eu.acme.com"


def test_matching_never_climbs_to_a_second_level_public_suffix() -> None:
    result = match_people_to_accounts(
        people(("p1", "jane@acme.co.uk", None), ("p2", "joe@shop.acme.co.uk", None)),
        accounts(
            {"id": "bogus", "website": "co.uk"},
            {"id": "a1", "website": "https://acme.co.uk"},
        ),
    )
    assert matched(result) == {"p1": "a1", "p2": "a1"}
    lone = match_people_to_accounts(
        people(("p1", "jane@other.co.uk", None)), accounts({"id": "bogus", "website": "co.uk"})
    )
    assert lone.height == 0


def test_free_mail_addresses_never_match() -> None:
    result = match_people_to_accounts(
        people(("p1", "jane@gmail.com", None), ("p2", "joe@GMX.de", None)),
        accounts({"id": "a1", "domain": "gmail.com"}, {"id": "a2", "domains": "gmx.de"}),
    )
    assert result.height == 0


def test_an_account_with_several_domains_matches_on_any_of_them() -> None:
    frame = pl.DataFrame(
        {
            "id": ["a1"],
            "name": ["Acme"],
            "domain": ["acme.com"],
            "website": ["https://acme-robotics.de"],
            "domains": [["acme.fr", "acme.io"]],
        }
    )
    result = match_people_to_accounts(
        people(
            ("p1", "a@acme.com", None),
            ("p2", "b@acme-robotics.de", None),
            ("p3", "c@lab.acme.io", None),
            ("p4", "d@acme.es", None),
        ),
        frame,
    )
    assert matched(result) == {"p1": "a1", "p2": "a1", "p3": "a1"}
    reasons = dict(zip(result["person_id"], result["reason"], strict=True))
    assert reasons["p2"].endswith("Acme's website")
    assert reasons["p3"].endswith("Acme's domain list")


def test_a_shared_domain_goes_to_the_account_with_most_employees_then_lowest_id() -> None:
    rows: list[dict[str, Any]] = [
        {"id": "a3", "name": "Acme Holding", "domain": "acme.com", "employees": 50},
        {"id": "a2", "name": "Acme Sales", "domain": "acme.com", "employees": 900},
        {"id": "a1", "name": "Acme Inc", "domain": "acme.com", "employees": None},
        {"id": "b2", "name": "Beta 2", "domain": "beta.com", "employees": 10},
        {"id": "b1", "name": "Beta 1", "domain": "beta.com", "employees": 10},
    ]
    persons = people(("p1", "a@acme.com", None), ("p2", "b@beta.com", None))
    first = match_people_to_accounts(persons, accounts(*rows))
    assert matched(first) == {"p1": "a2", "p2": "b1"}
    assert first["reason"][0] == (
        "email domain acme.com matches Acme Sales's domain (chosen from 3 accounts "
        "with this domain: most employees, then lowest id)"
    )
    for seed in range(5):
        shuffled = rows.copy()
        random.Random(seed).shuffle(shuffled)
        assert match_people_to_accounts(persons, accounts(*shuffled)).equals(first)


def test_people_without_an_account_id_column_are_all_unlinked() -> None:
    frame = pl.DataFrame({"id": ["p1"], "email": ["jane@acme.com"]})
    result = match_people_to_accounts(frame, accounts({"id": "a1", "domain": "acme.com"}))
    assert result["account_id"].to_list() == ["a1"]


def test_people_who_already_have_an_account_are_not_returned() -> None:
    result = match_people_to_accounts(
        people(
            ("p1", "a@acme.com", "a9"),
            ("p2", "b@acme.com", ""),
            ("p3", "c@acme.com", None),
            ("p4", None, None),
            ("p5", "acme.com", None),
        ),
        accounts({"id": "a1", "domain": "acme.com"}),
    )
    assert result["person_id"].to_list() == ["p2", "p3"]


def test_results_keep_the_order_of_people() -> None:
    persons = people(
        *[(f"p{i:03}", f"x{i}@{'acme' if i % 2 else 'globex'}.com", None) for i in range(200)]
    )
    persons = persons.sample(fraction=1.0, shuffle=True, seed=3)
    result = match_people_to_accounts(
        persons, accounts({"id": "a1", "domain": "acme.com"}, {"id": "a2", "domain": "globex.com"})
    )
    assert result["person_id"].to_list() == persons["id"].to_list()


def test_unlinked_sandbox_leads_find_the_account_of_their_work_email() -> None:
    data = generate_dataset(3_000, touchpoints_per_person=0)
    result = match_people_to_accounts(data.people, data.accounts)
    domain_of = dict(zip(data.accounts["id"], data.accounts["domain"], strict=True))
    assert result.height > 0
    for account_id, domain in result.select("account_id", "matched_domain").iter_rows():
        assert domain_of[account_id] == domain
    unlinked = data.people.filter(pl.col("account_id").is_null())
    work = unlinked.with_columns(d=domain_expr(pl.col("email"))).filter(
        pl.col("d").is_in(data.accounts["domain"].implode())
    )
    assert set(result["person_id"]) == set(work["id"])


def test_two_hundred_thousand_people_match_in_one_pass() -> None:
    count = 200_000
    frame_accounts = pl.DataFrame(
        {
            "id": [f"a{i}" for i in range(20_000)],
            "website": [f"https://www.company{i}.com/" for i in range(20_000)],
            "employees": list(range(20_000)),
        }
    )
    hosts = ["company{}.com", "mail.company{}.com", "gmail.com", "unknown{}.org"]
    frame_people = pl.DataFrame(
        {
            "id": [f"p{i}" for i in range(count)],
            "email": [f"x{i}@{hosts[i % 4].format(i % 25_000)}" for i in range(count)],
            "account_id": [None] * count,
        },
        schema={"id": pl.String(), "email": pl.String(), "account_id": pl.String()},
    )
    result = match_people_to_accounts(frame_people, frame_accounts)
    assert 0 < result.height < count
    in_order = frame_people.filter(pl.col("id").is_in(result["person_id"].implode()))["id"]
    assert result["person_id"].equals(in_order, check_names=False)
