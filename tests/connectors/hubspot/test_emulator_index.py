"""The emulator's unique-property index follows every write, as HubSpot's lookups do."""

from __future__ import annotations

import pytest

from abmsync.sandbox.hubspot.errors import RecordRejectedError
from abmsync.sandbox.hubspot.store import HubSpotStore


def test_lookups_by_email_follow_creates_updates_archives_and_imports() -> None:
    store = HubSpotStore()
    first = store.create("contacts", {"email": "Ada@Example.com"})
    assert store.get("contacts", "ada@example.com", id_property="email") is first
    store.update("contacts", first, {"email": "ada@new.example"})
    assert store.get("contacts", "ada@example.com", id_property="email") is None
    assert store.get("contacts", "ADA@new.example", id_property="email") is first
    with pytest.raises(RecordRejectedError):
        store.create("contacts", {"email": "ada@new.example"})
    store.archive("contacts", first)
    assert store.get("contacts", "ada@new.example", id_property="email") is None
    second = store.create("contacts", {"email": "ada@new.example"})  # the value is free again
    assert store.get("contacts", "ada@new.example", id_property="email") is second
    [third] = store.insert_many("contacts", [{"email": "grace@example.com"}])
    found = store.get("contacts", "grace@example.com", id_property="email")
    assert found is not None and found.id == third
    with pytest.raises(RecordRejectedError):
        store.insert_many("contacts", [{"email": "grace@example.com"}])


def test_the_pages_of_one_search_see_a_write_made_between_them() -> None:
    store = HubSpotStore()
    for i in range(3):
        store.create("contacts", {"email": f"c{i}@example.com", "firstname": "Ann"})
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "Ann"}]}
        ],
        "limit": 2,
    }
    assert store.search("contacts", body)["total"] == 3
    store.create("contacts", {"email": "c9@example.com", "firstname": "Ann"})
    assert store.search("contacts", {**body, "after": "2"})["total"] == 4
