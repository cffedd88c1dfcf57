"""Seeding the Eloqua emulator from a data set, and its week of marketing activity."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import polars as pl
import pytest

from abmsync.sandbox.eloqua.store import EloquaStore
from abmsync.sandbox.generate import DEFAULT_AS_OF, Dataset, generate_dataset
from abmsync.sandbox.seed import SeedSummary, seed_sandbox
from abmsync.sandbox.week import simulate_week
from abmsync.sandbox.week_eloqua import LATE_BOUNCE


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate_dataset(400, seed=3, as_of=DEFAULT_AS_OF)


@pytest.fixture
def seeded(data: Dataset) -> tuple[EloquaStore, SeedSummary]:
    store = EloquaStore(clock=lambda: DEFAULT_AS_OF)
    return store, seed_sandbox(data, None, None, None, eloqua=store)


def test_one_contact_per_email_linked_to_its_company(
    data: Dataset, seeded: tuple[EloquaStore, SeedSummary]
) -> None:
    store, summary = seeded
    emails = data.people["email"].drop_nulls().str.strip_chars().str.to_lowercase().unique()
    assert summary.eloqua["contacts"] == len(store.contacts) == emails.len()
    assert summary.eloqua["accounts"] == len(store.accounts) == data.accounts.height
    person = data.people.filter(pl.col("account_id").is_not_null() & pl.col("email").is_not_null())
    row = person.row(0, named=True)
    (contact,) = store.find_contacts("C_EmailAddress", row["email"].strip())
    values = store.contact(contact) or {}
    account = store.account(int(values["AccountId"])) or {}
    expected = data.accounts.filter(pl.col("id") == row["account_id"]).row(0, named=True)
    assert account["M_CompanyName"] == expected["name"]
    assert account["M_Website1"] == expected["domain"]
    assert values["C_DateModified"] == DEFAULT_AS_OF


def test_unsubscribed_people_are_unsubscribed_contacts(
    data: Dataset, seeded: tuple[EloquaStore, SeedSummary]
) -> None:
    store, _ = seeded
    gone = data.people.filter(pl.col("unsubscribed") & pl.col("email").is_not_null())
    assert gone.height
    for email in gone["email"].head(5):
        (contact,) = store.find_contacts("C_EmailAddress", email.strip())
        assert not store.contacts[contact].subscribed


def test_every_email_activity_follows_a_send_and_types_are_eloquas(
    seeded: tuple[EloquaStore, SeedSummary],
) -> None:
    store, _ = seeded
    kinds = Counter(a.type for a in store.activities.values())
    assert set(kinds) == {
        "EmailSend",
        "EmailOpen",
        "EmailClickthrough",
        "Bounceback",
        "FormSubmit",
        "PageView",
        "WebVisit",
        "Subscribe",
        "Unsubscribe",
    }
    assert kinds["EmailSend"] > 2 * kinds["EmailOpen"] * 0.9  # most sends are never opened
    sends: dict[tuple[int, int], list[object]] = {}
    for activity in store.activities.values():
        if activity.type == "EmailSend":
            key = (activity.values["ContactId"], activity.values["AssetId"])
            sends.setdefault(key, []).append(activity.values["ActivityDate"])
    for activity in store.activities.values():
        if activity.type in ("EmailOpen", "EmailClickthrough", "Bounceback"):
            key = (activity.values["ContactId"], activity.values["AssetId"])
            at = activity.values["ActivityDate"]
            assert any(s <= at for s in sends[key]), activity  # type: ignore[operator]


def test_form_submits_carry_their_page_and_scores_are_eloquas_letters_and_digits(
    seeded: tuple[EloquaStore, SeedSummary],
) -> None:
    store, _ = seeded
    forms = [a.values for a in store.activities.values() if a.type == "FormSubmit"]
    assert all("elqPageURL=https%3A%2F%2Fwww.example-vendor.com" in f["RawData"] for f in forms)
    ratings = {score["Rating"] for score in store.scores.values()}
    assert ratings and all(r[0] in "ABCD" and r[1] in "1234" for r in ratings)
    assert len(store.scores) == len(store.contacts)


def test_the_week_adds_touches_signups_only_in_eloqua_and_a_late_bounceback(
    data: Dataset, seeded: tuple[EloquaStore, SeedSummary]
) -> None:
    store, _ = seeded
    before = len(store.activities)
    week = simulate_week(data, None, None, seed=9, start=DEFAULT_AS_OF, eloqua=store)
    assert len(store.activities) > before + len(week.touchpoints)  # with sends and visits
    assert len(week.fast_tracks) == 6  # five fills by known people, the demo-request sign-up
    assert all(
        t.url and t.url.endswith(("/contact-sales", "/demo-request")) for t in week.fast_tracks
    )
    assert len(week.new_contacts) == 4
    for made in week.new_contacts:
        assert store.contact(int(made.contact_id)) is not None
    late = [t for t in week.touchpoints if t.occurred_at < DEFAULT_AS_OF]
    assert len(late) == 1 and late[0].type == "email_bounce"
    assert DEFAULT_AS_OF - late[0].occurred_at <= LATE_BOUNCE
    kind, activity = late[0].note_id.split(":")
    assert store.activities[int(activity)].type == kind == "Bounceback"
    assert max(t.occurred_at for t in week.touchpoints) < DEFAULT_AS_OF + timedelta(days=7)
