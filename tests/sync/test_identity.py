"""One person across systems; likely duplicates inside one system are reported, not merged."""

from __future__ import annotations

import polars as pl

from abmsync.sync.identity import resolve_people


def frame(*rows: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), infer_schema_length=None)


def test_the_same_email_in_two_systems_is_one_person_with_two_refs() -> None:
    crm = frame({"id": "00Q1", "email": "Ada@Acme.io ", "title": "CTO", "country": None})
    map_ = frame({"id": "501", "email": "ada@acme.io", "title": "Chief Tech", "country": "DE"})
    resolved = resolve_people([("salesforce", "Lead", crm), ("hubspot", "contacts", map_)])
    assert resolved.people.height == 1
    person = resolved.people.row(0, named=True)
    assert person["title"] == "CTO"  # the CRM, listed first, is preferred
    assert person["country"] == "DE"  # the marketing platform fills what it lacks
    assert sorted(resolved.xrefs["system"]) == ["hubspot", "salesforce"]
    assert resolved.xrefs["person_id"].n_unique() == 1


def test_people_without_email_stay_separate_and_ids_are_stable() -> None:
    a = frame({"id": "00Q1", "email": None}, {"id": "00Q2", "email": ""})
    first = resolve_people([("salesforce", "Lead", a)])
    second = resolve_people([("salesforce", "Lead", a)])
    assert first.people.height == 2
    assert first.people["person_id"].to_list() == second.people["person_id"].to_list()
    assert not any("@" in pid for pid in first.people["person_id"])


def test_likely_duplicates_are_reported_and_never_merged_within_a_system() -> None:
    leads = frame(
        {"id": "00Q1", "email": "bo@x.io", "first_name": "Bo", "last_name": "Li", "company": "X"},
        {"id": "00Q2", "email": "bo@x.io", "first_name": "Bo", "last_name": "Li", "company": "X"},
        {"id": "00Q3", "email": "b.li@x.io", "first_name": "Bo", "last_name": "Li", "company": "X"},
        {"id": "00Q4", "email": "ann@y.io", "first_name": "Ann", "last_name": "Ek", "company": "Y"},
    )
    resolved = resolve_people([("salesforce", "Lead", leads)])
    reasons = dict(resolved.duplicates.select("reason", "vendor_ids").iter_rows())
    assert reasons["same email bo@x.io"] == ["00Q1", "00Q2"]
    assert reasons["same name and company (bo, li, x)"] == ["00Q1", "00Q2", "00Q3"]
    assert resolved.xrefs.height == 4  # every record kept
