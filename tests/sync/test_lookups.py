"""The store's lookups behind ``abmsync history`` and the sync metrics, on both backends."""

from __future__ import annotations

import polars as pl

from abmsync.schema import SourceRef
from abmsync.sync.store import Store


def test_find_in_snapshot_matches_a_column_exactly_ignoring_case(store: Store) -> None:
    store.save_snapshot(
        "people@salesforce/Lead",
        pl.DataFrame(
            {
                "id": ["00Q1", "00Q2", "00Q3"],
                "email": ["ana_b@x.com", "anaxb@x.com", "other@x.com"],
                "title": ["", "", "ana_b@x.com"],
            }
        ),
    )
    store.save_snapshot(
        "accounts@salesforce/Account", pl.DataFrame({"id": ["001"], "email": ["ana_b@x.com"]})
    )
    # "_" is a LIKE wildcard: anaxb must not match; a title holding the address is no match either.
    found = store.find_in_snapshot("people@", "email", " ANA_B@x.com ")
    assert found == [("people@salesforce/Lead", "00Q1")]
    assert store.find_in_snapshot("people@", "email", "nobody@x.com") == []
    assert store.find_in_snapshot("people@", "email", "  ") == []


def test_links_of_vendor_id_lists_every_system_holding_that_id(store: Store) -> None:
    store.link("person", "p-1", "salesforce", "Lead", "42")
    store.link("person", "p-2", "hubspot", "contacts", "42")
    store.link("account", "a-1", "hubspot", "companies", "42")
    assert store.links_of_vendor_id("person", "42") == [
        (SourceRef(system="hubspot", object="contacts", id="42"), "p-2"),
        (SourceRef(system="salesforce", object="Lead", id="42"), "p-1"),
    ]
    assert store.links_of_vendor_id("person", "43") == []


def test_open_dead_letters_are_counted_per_connector(store: Store) -> None:
    assert store.open_dead_letters() == {}
    for connector, record in [("salesforce", "1"), ("salesforce", "2"), ("hubspot", "3")]:
        store.add_dead_letter(connector, "Lead", record, {}, "E", "rejected")
    store.resolve_dead_letter("salesforce", "Lead", "1")
    assert store.open_dead_letters() == {"salesforce": 1, "hubspot": 1}
