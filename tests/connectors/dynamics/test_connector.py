"""The Dynamics 365 connector against the Dataverse emulator, over HTTPS, with msal and httpx."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import polars as pl
import pytest
from pydantic import SecretStr

from abmsync.connectors.base import (
    INVALID_FIELD,
    STRING_TOO_LONG,
    Batch,
    Connector,
    FieldMeta,
    FieldSpec,
    FieldType,
    Patch,
)
from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.dynamics import DynamicsConnector
from abmsync.errors import BudgetExhaustedError, ConfigError
from abmsync.sandbox.dynamics import DynamicsConfig
from abmsync.sync.touchpoints import touchpoint_spec

from .conftest import Clock, MakeOrg, Org

Connect = Callable[..., DynamicsConnector]


@pytest.fixture
def connect(org: Org) -> Iterator[Connect]:
    """Connectors to the current test's org (the last org made)."""
    made: list[DynamicsConnector] = []

    def build(target: Org | None = None, **options: object) -> DynamicsConnector:
        where = target or org
        secret = options.pop("client_secret", where.config.client_secret)
        connector = DynamicsConnector(
            where.url,
            where.config.tenant_id,
            where.config.client_id,
            SecretStr(str(secret)),
            authority_host=where.url,
            verify=where.ca_file,
            **options,  # type: ignore[arg-type]
        )
        made.append(connector)
        return connector

    yield build
    for connector in made:
        connector.close()


def read_all(connector: DynamicsConnector, obj: str, cursor: object = None) -> list[Batch]:
    return list(connector.read_changes(obj, cursor))  # type: ignore[arg-type]


def ids(batches: list[Batch], column: str) -> list[str]:
    return [i for b in batches for i in b.records[column].to_list()]


def touchpoints(connector: DynamicsConnector) -> list[str]:
    return connector.ensure_fields(
        touchpoint_spec("dynamics", "abm_touchpoint", "abm_touchpointkey")
    )


# -- the seam ------------------------------------------------------------------------


def test_is_a_connector(connect: Connect) -> None:
    assert isinstance(connect(), Connector)
    assert connect().name == "dynamics"


def test_describe_maps_dataverse_types(connect: Connect) -> None:
    meta = connect().describe("lead")
    fields = meta.fields
    assert fields["leadid"].type is FieldType.ID
    assert fields["lastname"].type is FieldType.STRING and fields["lastname"].length
    assert fields["ownerid"].type is FieldType.REFERENCE
    assert fields["ownerid"].reference_to == "systemuser"
    assert fields["statecode"].type is FieldType.PICKLIST
    assert fields["statecode"].picklist and "Open" in fields["statecode"].picklist
    assert fields["leadsourcecode"].restricted_picklist
    assert fields["revenue"].type is FieldType.NUMBER
    assert fields["numberofemployees"].type is FieldType.INTEGER
    assert fields["donotemail"].type is FieldType.BOOLEAN
    assert fields["createdon"].type is FieldType.DATETIME and not fields["createdon"].writable
    assert "owneridname" not in fields  # AttributeOf ownerid: not a column of its own
    assert "fullname" in fields


# -- reading -------------------------------------------------------------------------


def test_full_load_then_delta_with_an_update_a_delete_a_qualify_and_a_merge(
    org: Org, connect: Connect
) -> None:
    store = org.sandbox.store
    leads = store.insert_many(
        "lead", [{"lastname": f"L{i}", "companyname": f"Co{i}"} for i in range(5)]
    )
    keep, dupe = store.insert_many("account", [{"name": "Keep"}, {"name": "Dupe"}])
    connector = connect(page_size=2)
    first = read_all(connector, "lead")
    assert len(first) == 3 and sorted(ids(first, "leadid")) == sorted(leads)
    assert not any(b.full_listing for b in first)
    assert first[0].records["ownerid"][0] == store.admin_id  # _ownerid_value, renamed
    assert "_ownerid_value" not in first[0].records.columns
    assert json.loads(first[0].cursor.value)["next"]
    assert "delta" in json.loads(first[-1].cursor.value)
    accounts = read_all(connector, "account")

    store.update("lead", leads[0], {"lastname": "Changed"})
    store.delete("lead", leads[1])
    made = store.qualify_lead(leads[2])
    store.merge("account", keep, dupe)

    delta = read_all(connector, "lead", first[-1].cursor)
    frame = pl.concat([b.records for b in delta])
    by_id = {r["leadid"]: r for r in frame.iter_rows(named=True)}
    assert by_id[leads[0]]["lastname"] == "Changed"
    assert by_id[leads[2]]["statecode"] == 1  # qualified
    assert [i for b in delta for i in b.deleted_ids] == [leads[1]]
    assert leads[3] not in by_id  # unchanged rows are not read again

    changed = read_all(connector, "account", accounts[-1].cursor)
    rows = {r["accountid"]: r for b in changed for r in b.records.iter_rows(named=True)}
    assert rows[dupe]["merged"] is True and rows[dupe]["masterid"] == keep
    assert [i for b in changed for i in b.deleted_ids] == [dupe]  # merged away: a deletion
    assert made["account"] in rows
    contacts = read_all(connector, "contact")
    assert made["contact"] in ids(contacts, "contactid")


def test_a_record_changed_while_paging_is_read_again_with_its_latest_values(
    org: Org, connect: Connect
) -> None:
    store = org.sandbox.store
    created = store.insert_many("account", [{"name": f"A{i}"} for i in range(4)])
    reader = connect(page_size=2).read_changes("account", None)
    first = next(reader)
    edited = first.records["accountid"][0]
    store.update("account", edited, {"name": "edited mid-read"})
    rest = list(reader)
    assert set(ids([first, *rest], "accountid")) == set(created)
    delta = read_all(connect(), "account", rest[-1].cursor)
    assert [(r["accountid"], r["name"]) for r in delta[0].records.iter_rows(named=True)] == [
        (edited, "edited mid-read")
    ]


def test_an_expired_delta_token_lists_everything_again_as_a_full_listing(
    make_org: MakeOrg, clock: Clock, connect: Connect
) -> None:
    org = make_org(clock=clock)
    store = org.sandbox.store
    leads = store.insert_many("lead", [{"lastname": f"L{i}"} for i in range(3)])
    connector = connect(org, page_size=2)
    first = read_all(connector, "lead")
    store.delete("lead", leads[0])
    clock.advance(days=30)  # past the org's change tracking retention
    again = read_all(connector, "lead", first[-1].cursor)
    assert all(b.full_listing for b in again)
    assert [b.listing_complete for b in again] == [False] * (len(again) - 1) + [True]
    assert sorted(ids(again, "leadid")) == sorted(leads[1:])  # the engine tombstones leads[0]
    assert "delta" in json.loads(again[-1].cursor.value)
    calm = read_all(connector, "lead", again[-1].cursor)
    assert not any(b.full_listing for b in calm) and ids(calm, "leadid") == []


def test_a_listing_resumed_from_a_page_link_continues_where_it_stopped(
    org: Org, connect: Connect
) -> None:
    leads = org.sandbox.store.insert_many("lead", [{"lastname": f"L{i}"} for i in range(5)])
    first = next(iter(connect(page_size=2).read_changes("lead", None)))
    rest = read_all(connect(page_size=2), "lead", first.cursor)
    assert sorted(ids([first, *rest], "leadid")) == sorted(leads)
    assert not any(b.full_listing for b in rest)


def test_campaign_responses_carry_their_customer_party(org: Org, connect: Connect) -> None:
    store = org.sandbox.store
    lead = store.create("lead", {"lastname": "Responder"})
    campaign = store.create("campaign", {"name": "Webinar"})
    response = store.create(
        "campaignresponse", {"subject": "Registered", "regardingobjectid": ("campaign", campaign)}
    )
    store.insert_many(
        "activityparty",
        [
            {
                "activityid": response,
                "partyid": ("systemuser", store.admin_id),
                "participationtypemask": 9,
            },  # the owner: not the customer
            {"activityid": response, "partyid": ("lead", lead), "participationtypemask": 11},
        ],
    )
    connector = connect()
    before = connector.budget.calls
    batches = read_all(connector, "campaignresponse")
    row = batches[0].records.row(0, named=True)
    assert row["activityid"] == response
    assert (row["customer_id"], row["customer_type"]) == (lead, "lead")
    assert (row["regardingobjectid"], row["regardingobjectid_type"]) == (campaign, "campaign")
    assert row["regardingobjectid_name"] == "Webinar"  # the FormattedValue annotation
    describe_calls = 6
    assert connector.budget.calls - before == describe_calls + 2  # the page and its parties


# -- writing -------------------------------------------------------------------------


def test_write_one_result_per_patch_in_order_with_one_bad_record(
    org: Org, connect: Connect
) -> None:
    store = org.sandbox.store
    a, gone, b = store.insert_many("lead", [{"lastname": n} for n in ("A", "Gone", "B")])
    store.delete("lead", gone)
    connector = connect()
    connector.describe("lead")
    before = connector.budget.calls
    results = connector.write(
        "lead",
        [
            Patch(obj="lead", record_id=a, values={"jobtitle": "CTO"}),
            Patch(obj="lead", record_id=gone, values={"jobtitle": "x"}),
            Patch(obj="lead", values={"lastname": "Created", "companyname": "NewCo"}),
            Patch(obj="lead", record_id=b, values={"jobtitle": "y" * 1000}),
            Patch(obj="lead", record_id=b, values={"nosuchcolumn": 1}),
            Patch(obj="lead", record_id=b, values={"jobtitle": "VP"}),
        ],
    )
    assert connector.budget.calls - before == 1  # one $batch for every sent patch
    assert [r.ok for r in results] == [True, False, True, False, False, True]
    assert results[1].error_code == "ENTITY_IS_DELETED" and "0x80040217" in str(results[1].message)
    assert results[2].created and results[2].record_id
    assert results[3].error_code == STRING_TOO_LONG  # validated before sending
    assert results[4].error_code == INVALID_FIELD
    assert store.get("lead", a)["jobtitle"] == "CTO"  # type: ignore[index]
    assert store.get("lead", b)["jobtitle"] == "VP"  # type: ignore[index]
    assert store.get("lead", str(results[2].record_id))["lastname"] == "Created"  # type: ignore[index]
    assert store.get("lead", gone) is None  # If-Match: * never creates


def test_owner_is_written_through_odata_bind(org: Org, connect: Connect) -> None:
    store = org.sandbox.store
    user = store.create("systemuser", {"firstname": "Rep", "lastname": "One"})
    lead = store.create("lead", {"lastname": "Owned"})
    results = connect().write("lead", [Patch(obj="lead", record_id=lead, values={"ownerid": user})])
    assert results[0].ok, results[0].message
    assert store.get("lead", lead)["ownerid"] == user  # type: ignore[index]


def test_ensure_fields_creates_the_touchpoint_table_its_lookups_and_key_once(
    org: Org, connect: Connect
) -> None:
    connector = connect()
    created = touchpoints(connector)
    assert {"abm_touchpointkey", "abm_lead", "abm_contact", "abm_occurredat"} <= set(created)
    assert "abm_touchpoint" not in created  # the table and its key are not fields
    meta = connector.describe("abm_touchpoint")
    assert meta.name == "abm_touchpoint"
    assert meta.fields["abm_touchpointkey"].external_id
    assert meta.fields["abm_lead"].type is FieldType.REFERENCE
    assert meta.fields["abm_lead"].reference_to == "lead"
    assert meta.fields["abm_contact"].reference_to == "contact"
    assert meta.fields["abm_occurredat"].type is FieldType.DATETIME
    assert touchpoints(connect()) == []  # idempotent, also for a new connector


def test_ensure_fields_adds_score_columns_to_leads(connect: Connect) -> None:
    spec = FieldSpec(
        obj="lead",
        fields=[
            FieldMeta(name="abm_score", label="ABM score", type=FieldType.NUMBER),
            FieldMeta(name="abm_grade", label="ABM grade", type=FieldType.STRING, length=2),
            FieldMeta(name="abm_scorereasons", type=FieldType.TEXT, length=1000),
        ],
    )
    connector = connect()
    assert connector.ensure_fields(spec) == ["abm_score", "abm_grade", "abm_scorereasons"]
    fields = connector.describe("lead").fields
    assert fields["abm_grade"].length == 2 and fields["abm_scorereasons"].type is FieldType.TEXT
    assert connector.ensure_fields(spec) == []
    with pytest.raises(ConfigError, match="publisher prefix"):
        connector.ensure_fields(FieldSpec(obj="lead", fields=[FieldMeta(name="score")]))


def test_the_stage_is_a_local_choice_written_and_read_by_its_labels(
    org: Org, connect: Connect
) -> None:
    stages = ["lead", "mql", "sql"]
    spec = FieldSpec(
        obj="lead",
        fields=[FieldMeta(name="abm_stage", type=FieldType.PICKLIST, picklist=stages)],
    )
    connector = connect()
    assert connector.ensure_fields(spec) == ["abm_stage"]
    assert connector.ensure_fields(spec) == []
    column = org.sandbox.store.table("lead").attributes["abm_stage"]
    assert (column.type, [(o.value, o.label) for o in column.options]) == (
        "Picklist",
        [(100000000, "lead"), (100000001, "mql"), (100000002, "sql")],
    )
    meta = connector.describe("lead").fields["abm_stage"]
    assert (meta.type, meta.picklist, meta.restricted_picklist) == (
        FieldType.PICKLIST,
        stages,
        True,
    )
    lead = org.sandbox.store.create("lead", {"lastname": "Staged", "leadsourcecode": 8})
    connector.select_fields("lead", ["abm_stage", "leadsourcecode"])
    [ok, bad] = connector.write(
        "lead",
        [
            Patch(obj="lead", record_id=lead, values={"abm_stage": "mql"}),
            Patch(obj="lead", record_id=lead, values={"abm_stage": "customer"}),
        ],
    )
    assert ok.ok and not bad.ok and bad.error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert org.sandbox.store.get_raw("lead", lead)["abm_stage"] == 100000001  # the option value
    row = read_all(connector, "lead")[0].records.row(0, named=True)
    # abmsync's choice reads as it is written; the org's own choices stay numbers
    assert (row["abm_stage"], row["leadsourcecode"]) == ("mql", 8)


def test_a_text_stage_column_stays_text(connect: Connect) -> None:
    connector = connect()
    text = FieldMeta(name="abm_stage", type=FieldType.STRING, length=40)
    assert connector.ensure_fields(FieldSpec(obj="lead", fields=[text])) == ["abm_stage"]
    choice = FieldMeta(name="abm_stage", type=FieldType.PICKLIST, picklist=["lead", "mql"])
    assert connector.ensure_fields(FieldSpec(obj="lead", fields=[choice])) == []
    assert connector.describe("lead").fields["abm_stage"].type is FieldType.STRING


def test_upsert_by_alternate_key_twice_makes_one_record(org: Org, connect: Connect) -> None:
    connector = connect()
    touchpoints(connector)
    patch = Patch(
        obj="abm_touchpoint",
        external_id=("abm_touchpointkey", "hubspot:note/1 'a'&b"),  # quoted and escaped
        values={"abm_name": "Webinar", "abm_type": "webinar"},
    )
    first = connector.write("abm_touchpoint", [patch])
    second = connector.write("abm_touchpoint", [patch])
    assert first[0].ok and first[0].created and first[0].record_id, first
    assert second[0].ok and not second[0].created and second[0].record_id == first[0].record_id
    rows = org.sandbox.store.rows("abm_touchpoint")
    assert len(rows) == 1 and rows[0]["abm_touchpointkey"] == "hubspot:note/1 'a'&b"


def test_a_touchpoint_links_its_lead_through_the_custom_lookup(org: Org, connect: Connect) -> None:
    connector = connect()
    touchpoints(connector)
    lead = org.sandbox.store.create("lead", {"lastname": "Toucher"})
    patch = Patch(
        obj="abm_touchpoint",
        external_id=("abm_touchpointkey", "k1"),
        values={"abm_name": "Webinar", "abm_lead": lead},
    )
    assert connector.write("abm_touchpoint", [patch])[0].ok
    assert org.sandbox.store.rows("abm_touchpoint")[0]["abm_lead"] == lead


def test_a_create_whose_answer_is_lost_is_outcome_unknown(org: Org, connect: Connect) -> None:
    connector = connect(timeout=5.0)
    connector.describe("lead")
    org.faults.drop = 1.0  # every answer cut off from here on
    results = connector.write("lead", [Patch(obj="lead", values={"lastname": "Maybe"})])
    assert [r.error_code for r in results] == ["OUTCOME_UNKNOWN"]
    assert connector.budget.calls == 6 + 1  # describe, then one $batch: never sent again


# -- failures ------------------------------------------------------------------------


def test_service_protection_429_is_waited_out(make_org: MakeOrg, connect: Connect) -> None:
    org = make_org(config=DynamicsConfig(requests_per_window=3, window_seconds=1.0))
    org.sandbox.store.insert_many("lead", [{"lastname": "L"}])
    batches = read_all(connect(org), "lead")  # 7 requests: more than 3 a second
    assert ids(batches, "leadid")


def test_an_expired_access_token_is_replaced_mid_run(org: Org, connect: Connect) -> None:
    org.sandbox.store.insert_many("lead", [{"lastname": f"L{i}"} for i in range(3)])
    reader = connect(page_size=2).read_changes("lead", None)
    first = next(reader)
    org.raw().post(f"{org.url}/__sandbox/expire_tokens")
    rest = list(reader)
    assert len(ids([first, *rest], "leadid")) == 3


def test_budget_stops_before_the_call_past_the_cap(org: Org, connect: Connect) -> None:
    connector = connect(budget=ApiBudget("dynamics", max_calls=3))
    with pytest.raises(BudgetExhaustedError):
        read_all(connector, "lead")
    assert connector.budget.calls == 3


def test_a_bad_secret_is_one_clear_line_without_the_secret(connect: Connect) -> None:
    connector = connect(client_secret="wrong-secret-value")
    with pytest.raises(ConfigError) as raised:
        connector.describe("lead")
    message = str(raised.value)
    assert "ABMSYNC_DYNAMICS__CLIENT_SECRET" in message and "invalid_client" in message
    assert "wrong-secret-value" not in message and "\n" not in message
    report = connector.check()
    assert not report.ok and report.items[0].name == "sign-in"


def test_check_reports_sign_in_whoami_and_read_access(org: Org, connect: Connect) -> None:
    report = connect().check()
    assert report.ok, report
    assert [i.name for i in report.items][:4] == ["sign-in", "WhoAmI", "read lead", "read contact"]
    assert org.sandbox.store.admin_id in report.items[1].detail
    # The service protection headroom the answers report: 6,000 a window, less those spent.
    (headroom,) = [i for i in report.items if i.name == "service protection"]
    left = int(headroom.detail.split()[0].replace(",", ""))
    assert 6000 - org.sandbox.api_used <= left < 6000


def test_unreachable_org_is_transient(connect: Connect, org: Org) -> None:
    connector = connect(timeout=2.0, attempts=2)
    connector.client.http = httpx.Client(base_url="https://127.0.0.1:1/api/data/v9.2/")
    with pytest.raises(Exception, match="connection to Dynamics 365 failed"):
        connector.describe("lead")
