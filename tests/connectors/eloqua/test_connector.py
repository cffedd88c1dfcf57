"""``EloquaConnector`` against the Eloqua emulator over HTTPS, its CA file as ``verify``."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from pydantic import SecretStr

from abmsync.connectors.base import (
    STRING_TOO_LONG,
    Batch,
    Cursor,
    FieldMeta,
    FieldSpec,
    FieldType,
    Patch,
)
from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.eloqua import EloquaConnector
from abmsync.connectors.eloqua.activities import COLUMNS, TYPES
from abmsync.connectors.eloqua.cursors import ActivityCursor, RecordCursor
from abmsync.connectors.eloqua.errors import EloquaTerminalError
from abmsync.errors import BudgetExhaustedError, ConfigError
from abmsync.sandbox.eloqua import EloquaConfig
from abmsync.sandbox.faults import Faults
from abmsync.sandbox.server import SandboxServer
from tests.connectors.eloqua.conftest import MakeSite, Site
from tests.connectors.serving import Clock, Switch

CONTACTS = "contacts"
TOUCHPOINTS = "ABM_Touchpoint"


class Recorder:
    """ASGI middleware noting every request's method and path."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.calls.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)

    def count(self, method: str, fragment: str) -> int:
        """Requests with ``method`` whose path contains ``fragment`` (any case)."""
        return sum(1 for m, p in self.calls if m == method and fragment.lower() in p.lower())


@pytest.fixture
def recorder(site: Site, eloqua_server: tuple[SandboxServer, Switch]) -> Recorder:
    """Every request the test's site answers, in order."""
    _, switch = eloqua_server
    made = Recorder(site.app)
    switch.app = made
    return made


OPEN: list[EloquaConnector] = []


@pytest.fixture(autouse=True)
def _close_connectors() -> Iterator[None]:
    """Close every connector a test made (warnings are errors: no socket may leak)."""
    yield
    while OPEN:
        OPEN.pop().close()
    gc.collect()


def connect(site: Site, *, oauth: bool = False, **options: Any) -> EloquaConnector:
    """A connector on ``site`` (Basic auth unless ``oauth``), polling syncs quickly."""
    config = site.config
    password = options.pop("password", config.password)
    extra: dict[str, Any] = {"poll_seconds": 0.01, **options}
    if oauth:
        extra.update(client_id=config.client_id, client_secret=SecretStr(config.client_secret))
    made = EloquaConnector(
        config.company,
        config.username,
        SecretStr(password),
        login_url=site.url,
        verify=site.ca_file,
        **extra,
    )
    OPEN.append(made)
    return made


def people(site: Site, count: int, **values: Any) -> list[int]:
    """``count`` contacts with distinct emails."""
    start = len(site.store.contacts)
    return site.store.add_contacts(
        [
            {"C_EmailAddress": f"p{start + i}@example.com", "C_LastName": f"P{start + i}", **values}
            for i in range(count)
        ]
    )


def drain(batches: Iterator[Batch]) -> tuple[pl.DataFrame, list[str], Cursor | None, int]:
    """All rows, deleted ids, the last cursor and the number of batches of a read."""
    frames, deleted, cursor, count = [], [], None, 0
    for batch in batches:
        frames.append(batch.records)
        deleted += batch.deleted_ids
        cursor = batch.cursor
        count += 1
    rows = pl.concat(frames, how="vertical") if frames else pl.DataFrame()
    return rows, deleted, cursor, count


def ids(frame: pl.DataFrame, column: str = "ContactId") -> list[str]:
    return sorted(frame[column].to_list()) if frame.height else []


# -- sign-in and discovery -----------------------------------------------------------------


def test_basic_auth_discovers_the_pod_once_per_session(site: Site, recorder: Recorder) -> None:
    people(site, 3)
    connector = connect(site)
    report = connector.check()
    assert [item.ok for item in report.items] == [True, True, False], report.items
    assert "HTTP Basic" in report.items[0].detail
    assert "missing contact fields: C_ABM_Score1" in report.items[2].detail
    rows, _, _, _ = drain(connector.read_changes(CONTACTS, None))
    connector.write(CONTACTS, [Patch(obj=CONTACTS, record_id=rows["ContactId"][0], values={})])
    assert recorder.count("GET", "/id") == 1
    assert connector.client.discoveries == 1


def test_oauth_signs_in_once_and_refreshes_after_the_token_expires(
    site: Site, clock: Clock, recorder: Recorder
) -> None:
    people(site, 2)
    connector = connect(site, oauth=True)
    assert "OAuth" in connector.check().items[0].detail
    assert site.app.state.auth.issued == 1
    clock.advance(site.config.token_seconds + 1)  # the token expires on the site's clock
    rows, _, _, _ = drain(connector.read_changes(CONTACTS, None))
    assert rows.height == 2
    assert site.app.state.auth.issued == 2  # one refresh
    assert recorder.count("POST", "/auth/oauth2/token") == 2
    assert recorder.count("GET", "/id") == 2  # a 401 means "discover again"


@pytest.mark.parametrize("oauth", [False, True], ids=["basic", "oauth"])
def test_a_wrong_password_is_one_clear_line_without_the_password(site: Site, oauth: bool) -> None:
    wrong = "not-the-password-8841"
    connector = connect(site, oauth=oauth, password=wrong)
    report = connector.check()
    assert not report.ok
    with pytest.raises(ConfigError) as caught:
        connector.describe(CONTACTS)
    message = str(caught.value)
    assert "\n" not in message and wrong not in message
    assert site.config.password not in message
    assert f"{site.config.company}\\{site.config.username}" in message


def test_every_request_is_counted_by_the_budget_sign_in_included(
    site: Site, recorder: Recorder
) -> None:
    connector = connect(site, oauth=True, budget=ApiBudget("eloqua"))
    connector.describe(CONTACTS)
    assert connector.budget.calls == len(recorder.calls)


# -- reading contacts ----------------------------------------------------------------------------


def test_a_first_read_types_every_column(site: Site) -> None:
    store = site.store
    store.add_contact_field("Score", "numeric")
    contact, other = people(site, 2, C_Score1=42.5)
    account = store.add_accounts([{"M_CompanyName": "Acme"}])[0]
    store.link_contact_to_account(contact, account)
    store.set_lead_score(contact, model_id=1, rating="A1", profile="A", engagement="1")
    rows, deleted, cursor, _ = drain(connect(site).read_changes(CONTACTS, None))
    assert deleted == [] and cursor is not None
    row = rows.filter(pl.col("ContactId") == str(contact)).to_dicts()[0]
    assert row["C_Score1"] == 42.5 and rows.schema["C_Score1"] == pl.Float64
    assert row["AccountId"] == str(account)
    assert (row["LeadScoreRating"], row["LeadScoreProfile"], row["LeadScoreEngagement"]) == (
        "A1",
        "A",
        "1",
    )
    modified = store.contact(contact)["C_DateModified"]  # type: ignore[index]
    assert row["C_DateModified"] == modified.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert rows.filter(pl.col("ContactId") == str(other))["AccountId"].to_list() == [None]


def test_an_incremental_read_skips_what_the_overlap_reads_again(site: Site, clock: Clock) -> None:
    first, second = people(site, 2)
    clock.advance(5)
    connector = connect(site, overlap_seconds=60)
    _, _, cursor, _ = drain(connector.read_changes(CONTACTS, None))
    clock.advance(5)  # still within the overlap: the next export lists both again
    site.store.update_contact(second, {"C_Title": "CTO"})
    clock.advance(1)
    rows, deleted, cursor, _ = drain(connector.read_changes(CONTACTS, cursor))
    assert ids(rows) == [str(second)] and deleted == []  # not the untouched ``first``
    assert str(first) in RecordCursor.parse(cursor).window.seen  # though it was read again
    assert rows["C_Title"].to_list() == ["CTO"]
    rows, _, _, _ = drain(connector.read_changes(CONTACTS, cursor))
    assert rows.height == 0


def test_the_window_closes_at_the_server_time_the_export_began(site: Site, clock: Clock) -> None:
    people(site, 1)
    _, _, cursor, _ = drain(connect(site).read_changes(CONTACTS, None))
    assert cursor is not None and cursor.observed_at == clock.now


def test_an_interrupted_export_resumes_on_the_same_sync(site: Site, recorder: Recorder) -> None:
    made = people(site, 5)
    connector = connect(site, page_size=2)
    batches = connector.read_changes(CONTACTS, None)
    first = next(batches)
    assert first.records.height == 2
    state = RecordCursor.parse(first.cursor)
    assert state.window.export is not None and state.window.export.offset == 2
    exports = recorder.count("POST", "/contacts/exports")
    rest, _, _, _ = drain(connect(site, page_size=2).read_changes(CONTACTS, first.cursor))
    assert recorder.count("POST", "/contacts/exports") == exports  # no new export
    assert sorted(first.records["ContactId"].to_list() + rest["ContactId"].to_list()) == sorted(
        str(i) for i in made
    )


def test_an_export_whose_data_expired_starts_its_window_over(
    site: Site, clock: Clock, recorder: Recorder
) -> None:
    made = people(site, 4)
    batches = connect(site, page_size=2).read_changes(CONTACTS, None)
    first = next(batches)
    clock.advance(hours=13)  # staged data is kept 12 hours
    rest, _, _, _ = drain(connect(site, page_size=2).read_changes(CONTACTS, first.cursor))
    assert recorder.count("POST", "/contacts/exports") == 2
    seen = first.records["ContactId"].to_list() + rest["ContactId"].to_list()
    assert sorted(seen) == sorted(str(i) for i in made)  # re-read, not re-emitted


def test_a_budget_spent_mid_read_keeps_the_batches_read_and_resumes(site: Site) -> None:
    made = people(site, 6)
    probe = connect(site)
    probe.describe(CONTACTS)
    cap = probe.budget.calls + 5  # export, sync, poll, two pages
    capped = connect(site, page_size=2, budget=ApiBudget("eloqua", max_calls=cap))
    read: list[str] = []
    cursor: Cursor | None = None

    def read_until_stopped() -> None:
        nonlocal cursor
        for batch in capped.read_changes(CONTACTS, None):
            read.extend(batch.records["ContactId"].to_list())
            cursor = batch.cursor

    with pytest.raises(BudgetExhaustedError):
        read_until_stopped()
    assert len(read) == 4
    rest, _, _, _ = drain(connect(site, page_size=2).read_changes(CONTACTS, cursor))
    assert sorted(read + rest["ContactId"].to_list()) == sorted(str(i) for i in made)


# -- deletions -------------------------------------------------------------------------------


def test_deletions_are_found_by_reconciling_ids_and_reported_once(
    site: Site, clock: Clock, recorder: Recorder
) -> None:
    made = people(site, 4)
    connector = connect(site)
    _, deleted, cursor, _ = drain(connector.read_changes(CONTACTS, None))
    assert deleted == []
    assert recorder.count("POST", "/contacts/exports") == 1  # a first read reconciles nothing
    site.store.delete_contact(made[1])
    clock.advance(1)
    _, deleted, cursor, _ = drain(connector.read_changes(CONTACTS, cursor))
    assert deleted == [str(made[1])]
    assert recorder.count("POST", "/contacts/exports") == 3  # changes, then ids
    clock.advance(1)
    _, deleted, _, _ = drain(connector.read_changes(CONTACTS, cursor))
    assert deleted == []
    assert RecordCursor.parse(cursor).known == {made[0], made[2], made[3]}


def test_reconciliation_waits_for_reconcile_every_seconds_of_server_time(
    site: Site, clock: Clock
) -> None:
    made = people(site, 3)
    connector = connect(site, reconcile_every=3600)
    _, _, cursor, _ = drain(connector.read_changes(CONTACTS, None))
    site.store.delete_contact(made[0])
    clock.advance(60)
    _, deleted, cursor, _ = drain(connector.read_changes(CONTACTS, cursor))
    assert deleted == []
    clock.advance(3600)
    _, deleted, _, _ = drain(connector.read_changes(CONTACTS, cursor))
    assert deleted == [str(made[0])]


# -- activities ---------------------------------------------------------------------------------


def test_each_activity_type_reads_with_its_own_cursor(site: Site, clock: Clock) -> None:
    store = site.store
    (contact,) = people(site, 1)
    campaign = store.add_campaign("Spring")
    store.add_activities(
        "EmailOpen",
        [{"ContactId": contact, "EmailAddress": "p0@example.com", "AssetName": "Welcome"}],
    )
    store.add_activities(
        "PageView",
        [{"ContactId": contact, "Url": "https://x.test/pricing", "CampaignId": campaign}],
    )
    store.add_activities("FormSubmit", [{"ContactId": contact, "RawData": "a=1&b=2"}])
    clock.advance(5)
    connector = connect(site)
    rows, _, cursor, batches = drain(connector.read_changes("activities", None))
    assert batches == len(TYPES)
    assert rows.columns == list(COLUMNS)
    by_type = {r["ActivityType"]: r for r in rows.to_dicts()}
    assert set(by_type) == {"EmailOpen", "PageView", "FormSubmit"}
    assert by_type["PageView"]["Url"] == "https://x.test/pricing"
    assert by_type["PageView"]["CampaignId"] == str(campaign)
    assert by_type["PageView"]["EmailAddress"] is None
    assert by_type["FormSubmit"]["RawData"] == "a=1&b=2"
    assert by_type["EmailOpen"]["ContactId"] == str(contact)
    assert set(ActivityCursor.parse(cursor).types) == set(TYPES)

    clock.advance(5)
    store.add_activities("EmailOpen", [{"ContactId": contact, "EmailAddress": "p0@example.com"}])
    clock.advance(1)
    rows, _, _, _ = drain(connector.read_changes("activities", cursor))
    assert rows["ActivityType"].to_list() == ["EmailOpen"]


def test_a_late_bounceback_is_picked_up_by_its_longer_overlap(site: Site, clock: Clock) -> None:
    store = site.store
    (contact,) = people(site, 1)
    store.add_activities("Bounceback", [{"ContactId": contact, "EmailAddress": "p0@example.com"}])
    clock.advance(5)
    connector = connect(site)
    rows, _, cursor, _ = drain(connector.read_changes("activities", None))
    assert rows["ActivityType"].to_list() == ["Bounceback"]
    clock.advance(hours=2)
    late = clock.now - timedelta(days=1)  # recorded now, dated a day back
    store.add_activities("Bounceback", [{"ContactId": contact, "ActivityDate": late}])
    store.add_activities("EmailOpen", [{"ContactId": contact, "ActivityDate": late}])
    rows, _, _, _ = drain(connector.read_changes("activities", cursor))
    assert rows["ActivityType"].to_list() == ["Bounceback"]  # an open that late is not looked for
    assert rows["ActivityDate"].to_list() == [late.strftime("%Y-%m-%dT%H:%M:%S.000Z")]


# -- writing -----------------------------------------------------------------------------------


def test_writes_report_rejects_in_patch_order(site: Site) -> None:
    keep, gone, other = people(site, 3)
    site.store.delete_contact(gone)
    patches = [
        Patch(obj=CONTACTS, record_id=str(keep), values={"C_Title": "VP"}),
        Patch(obj=CONTACTS, record_id=str(gone), values={"C_Title": "VP"}),
        Patch(obj=CONTACTS, record_id=str(other), values={"C_EmailAddress": "not an email"}),
        Patch(obj=CONTACTS, record_id=str(other), values={"C_Title": "x" * 101}),
        Patch(obj=CONTACTS, values={"C_EmailAddress": "new@example.com", "C_LastName": "New"}),
    ]
    results = connect(site).write(CONTACTS, patches)
    assert [(r.ok, r.error_code) for r in results] == [
        (True, None),
        (False, "ELQ-00085"),
        (False, "ELQ-00002"),
        (False, STRING_TOO_LONG),
        (True, None),
    ]
    assert [r.record_id for r in results[:4]] == [str(keep), str(gone), str(other), str(other)]
    assert results[1].message and "\n" not in results[1].message
    assert site.store.contact(keep)["C_Title"] == "VP"  # type: ignore[index]
    assert site.store.contact(gone) is None  # an update never creates
    created = results[4]
    assert created.created and site.store.find_contacts("C_EmailAddress", "new@example.com") == [
        int(created.record_id or 0)
    ]


def test_creating_an_existing_email_updates_that_contact(site: Site) -> None:
    (contact,) = people(site, 1)
    email = site.store.contact(contact)["C_EmailAddress"]  # type: ignore[index]
    patch = Patch(obj=CONTACTS, values={"C_EmailAddress": email.upper(), "C_Title": "CEO"})
    (result,) = connect(site).write(CONTACTS, [patch])
    assert (result.ok, result.created, result.record_id) == (True, False, str(contact))


def test_a_large_write_goes_in_chunks_and_keeps_the_order(
    site: Site, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("abmsync.connectors.eloqua.writing.WRITE_BATCH", 3)
    made = people(site, 7)
    patches = [
        Patch(obj=CONTACTS, record_id=str(c), values={"C_Title": f"T{i}"})
        for i, c in enumerate(made)
    ]
    results = connect(site).write(CONTACTS, patches)
    assert all(r.ok for r in results)
    assert recorder.count("POST", "/syncs") == 3
    assert [site.store.contact(c)["C_Title"] for c in made] == [f"T{i}" for i in range(7)]  # type: ignore[index]


def test_ensure_fields_creates_contact_fields_under_the_names_asked_for(site: Site) -> None:
    connector = connect(site)
    spec = FieldSpec(
        obj=CONTACTS,
        fields=[
            FieldMeta(name="C_ABM_Score1", label="ABM score", type=FieldType.NUMBER),
            FieldMeta(name="C_ABM_Score_Reasons1", type=FieldType.TEXT, length=1000),
        ],
    )
    assert connector.ensure_fields(spec) == ["C_ABM_Score1", "C_ABM_Score_Reasons1"]
    assert connector.ensure_fields(spec) == []
    fields = connector.describe(CONTACTS).fields
    assert fields["C_ABM_Score1"].type is FieldType.NUMBER
    assert (fields["C_ABM_Score_Reasons1"].type, fields["C_ABM_Score_Reasons1"].length) == (
        FieldType.TEXT,
        32_000,
    )
    assert connector.check().ok is False  # grade and stage are still missing


def touchpoint_spec() -> FieldSpec:
    return FieldSpec(
        obj=TOUCHPOINTS,
        fields=[
            FieldMeta(
                name="ABM_Touchpoint_Key", type=FieldType.STRING, length=80, external_id=True
            ),
            FieldMeta(name="ABM_Type", type=FieldType.STRING, length=40),
            FieldMeta(name="ABM_Occurred_At", type=FieldType.DATETIME),
            FieldMeta(name="ContactId", type=FieldType.REFERENCE, reference_to=CONTACTS),
        ],
    )


def test_touchpoints_go_to_a_custom_object_linked_to_contacts_and_upsert_once(
    site: Site, clock: Clock
) -> None:
    first, second = people(site, 2)
    connector = connect(site)
    assert connector.ensure_fields(touchpoint_spec()) == [
        "ABM_Touchpoint_Key1",  # Eloqua's name for it; the name asked for stays an alias
        "ABM_Type1",
        "ABM_Occurred_At1",
        "ContactId",
    ]
    assert connector.ensure_fields(touchpoint_spec()) == []
    meta = connector.describe(TOUCHPOINTS)
    assert meta.fields["ABM_Touchpoint_Key1"].external_id
    assert meta.fields["ContactId"].reference_to == CONTACTS and meta.fields["ContactId"].writable

    def patches(kind: str) -> list[Patch]:
        return [
            Patch(
                obj=TOUCHPOINTS,
                external_id=("ABM_Touchpoint_Key", f"sf:Task:{i}"),
                values={
                    "ABM_Type1": kind,
                    "ABM_Occurred_At1": "2026-01-15T14:00:00Z",
                    "ContactId": str(contact),
                },
            )
            for i, contact in enumerate((first, second))
        ]

    results = connector.write(TOUCHPOINTS, patches("meeting"))
    assert [(r.ok, r.created) for r in results] == [(True, True), (True, True)]
    clock.advance(1)
    again = connect(site).write(TOUCHPOINTS, patches("call"))
    assert [(r.ok, r.created) for r in again] == [(True, False), (True, False)]
    assert [r.record_id for r in again] == [r.record_id for r in results]

    object_id = site.store.custom_object_id(TOUCHPOINTS)
    assert object_id is not None
    stored = site.store.custom_object_instances(object_id)
    assert sorted((row["ContactId"], row["ABM_Type1"]) for row in stored) == [
        (first, "call"),
        (second, "call"),
    ]
    rows, _, _, _ = drain(connect(site).read_changes(TOUCHPOINTS, None))
    assert sorted(rows["ContactId"].to_list()) == sorted([str(first), str(second)])
    assert rows["ABM_Occurred_At1"].to_list() == ["2026-01-15T14:00:00.000Z"] * 2
    assert rows["ABM_Touchpoint_Key1"].sort().to_list() == ["sf:Task:0", "sf:Task:1"]
    assert sorted(rows["CustomObjectInstanceId"].to_list()) == sorted(
        r.record_id for r in results if r.record_id
    )


# -- errors and limits -------------------------------------------------------------------------


def test_throttling_and_server_errors_are_retried(make_site: MakeSite) -> None:
    faults = Faults(seed=2, rate_limit=0.15, server_error=0.15, retry_after=0.01)
    site = make_site(faults)
    made = people(site, 6)
    connector = connect(site, page_size=2)
    rows, _, _, _ = drain(connector.read_changes(CONTACTS, None))
    results = connector.write(
        CONTACTS, [Patch(obj=CONTACTS, record_id=str(c), values={"C_Title": "X"}) for c in made]
    )
    assert ids(rows) == sorted(str(i) for i in made)
    assert all(r.ok for r in results)
    assert faults.counts.get("rate_limit") and faults.counts.get("server_error")


def test_a_401_mid_run_discovers_again_and_goes_on(make_site: MakeSite) -> None:
    faults = Faults(seed=4, token_expiry=0.2)
    site = make_site(faults)
    made = people(site, 6)
    connector = connect(site, page_size=2)  # HTTP Basic: a 401 only means "ask /id again"
    rows, _, _, _ = drain(connector.read_changes(CONTACTS, None))
    assert ids(rows) == sorted(str(i) for i in made)
    assert faults.counts.get("token_expiry")
    assert connector.client.discoveries == 1 + faults.counts["token_expiry"]


def test_the_request_rate_limit_is_waited_out(make_site: MakeSite) -> None:
    site = make_site(config=EloquaConfig(requests_per_second=4))
    people(site, 3)
    rows, _, _, _ = drain(connect(site).read_changes(CONTACTS, None))
    assert rows.height == 3


def test_a_sync_that_ends_in_error_is_one_line_with_its_elq_code(site: Site) -> None:
    people(site, 1)
    site.bulk_api.fail_next_syncs(1)
    connector = connect(site)
    connector.describe(CONTACTS)
    with pytest.raises(EloquaTerminalError, match=r"ended in error: ELQ-\d+") as caught:
        drain(connector.read_changes(CONTACTS, None))
    assert "\n" not in str(caught.value)


def test_an_export_holds_at_most_250_fields_so_reads_select_them(site: Site) -> None:
    for number in range(260):
        site.store.add_contact_field(f"Extra {number}", "text")
    people(site, 2)
    connector = connect(site)
    with pytest.raises(ConfigError, match="at most 250 fields"):
        next(connector.read_changes(CONTACTS, None))
    connector.select_fields(CONTACTS, ["C_EmailAddress", "C_Extra_71", "C_NoSuchField"])
    rows, _, _, _ = drain(connector.read_changes(CONTACTS, None))
    assert rows.height == 2
    assert "C_Extra_71" in rows.columns and "C_NoSuchField" not in rows.columns
    assert {"ContactId", "C_DateModified", "AccountId"} <= set(rows.columns)
    assert len(rows.columns) < 12


def test_an_unknown_object_names_itself(site: Site) -> None:
    with pytest.raises(EloquaTerminalError, match="'Opportunities'"):
        connect(site).describe("Opportunities")
