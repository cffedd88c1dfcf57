"""API calls per 1,000 written records: abmsync's connectors vs a one-call-per-record loop.

    python benchmarks/bench_api_calls.py --records 10000

Starts the Salesforce, HubSpot and Dynamics 365 sandbox emulators on loopback, seeds N
leads / contacts, then writes a changed score to every one of them twice:
through abmsync's connector (Salesforce sObject Collections, 200 per call;
HubSpot batch update, 100 per call) and with a naive loop that updates one
record per call through the same official SDK. API calls are counted by the
emulators themselves, after each object's one-off describe call (which
validates values before sending); the naive loop runs on a sample and its
rate is per record, so calls per 1,000 are measured, not assumed.
Dynamics 365 writes go as Dataverse ``$batch`` requests of 1,000 operations,
against a loop of one ``PATCH`` per record on the Web API.
Targets: at most 5 calls per 1,000 records for Salesforce, 10 for HubSpot, 1 for Dynamics.
"""

from __future__ import annotations

import argparse
import ssl
import time
from typing import Any

import requests
from pydantic import SecretStr

from abmsync.connectors.base import FieldMeta, FieldSpec, FieldType, Patch
from abmsync.connectors.dynamics.connector import DynamicsConnector
from abmsync.connectors.hubspot.connector import HubSpotConnector
from abmsync.connectors.salesforce.connector import SalesforceConnector
from abmsync.sandbox.dynamics.app import DynamicsConfig
from abmsync.sandbox.dynamics.app import create_app as dynamics_app
from abmsync.sandbox.hubspot.app import create_app as hubspot_app
from abmsync.sandbox.salesforce.app import SandboxConfig
from abmsync.sandbox.salesforce.app import create_app as salesforce_app
from abmsync.sandbox.server import SandboxServer

SCORE = FieldMeta(name="ABM_Score__c", label="ABM score", type=FieldType.NUMBER)
HS_SCORE = FieldMeta(name="abm_score", label="ABM score", type=FieldType.NUMBER)


def salesforce(records: int, sample: int) -> dict[str, Any]:
    config = SandboxConfig(daily_api_limit=10_000_000)
    leads = [
        {"LastName": f"Lead {i}", "Company": "Acme", "Email": f"l{i}@acme.io"}
        for i in range(records)
    ]
    app = salesforce_app(config=config, seed_data={"Lead": leads})
    sandbox = app.state.sandbox
    with SandboxServer(app, tls=True) as server:
        connector = SalesforceConnector(
            server.url,
            config.client_id,
            SecretStr(config.client_secret),
            verify=str(server.ca_file),
        )
        connector.ensure_fields(FieldSpec(obj="Lead", fields=[SCORE]))
        client = connector.client.authenticate()  # the simple-salesforce instance
        ids = [row["Id"] for row in client.query_all("SELECT Id FROM Lead ORDER BY Id")["records"]]
        patches = [
            Patch(obj="Lead", record_id=i, values={"ABM_Score__c": n % 100})
            for n, i in enumerate(ids)
        ]
        before = sandbox.api_used
        started = time.perf_counter()
        results = connector.write("Lead", patches)
        batched_seconds = time.perf_counter() - started
        batched_calls = sandbox.api_used - before
        assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
        before = sandbox.api_used
        started = time.perf_counter()
        for n, record_id in enumerate(ids[:sample]):
            client.Lead.update(record_id, {"ABM_Score__c": (n + 1) % 100})
        naive_seconds = time.perf_counter() - started
        naive_calls = sandbox.api_used - before
    return {
        "system": "Salesforce",
        "records": len(ids),
        "calls": batched_calls,
        "seconds": batched_seconds,
        "naive_records": sample,
        "naive_calls": naive_calls,
        "naive_seconds": naive_seconds,
        "target": 5,
    }


def hubspot(records: int, sample: int) -> dict[str, Any]:
    app = hubspot_app(burst_limit=10_000_000, daily_limit=10_000_000)
    with SandboxServer(app) as server:
        requests.post(
            f"{server.url}/__sandbox/seed",
            timeout=60,
            json={"objectType": "contacts", "count": records},
        )
        connector = HubSpotConnector(SecretStr("sandbox-token"), host=server.url)
        connector.ensure_fields(FieldSpec(obj="contacts", fields=[HS_SCORE]))
        listing = requests.get(f"{server.url}/__sandbox/records/contacts", timeout=60).json()
        ids = [row["id"] for row in listing["results"]]
        patches = [
            Patch(obj="contacts", record_id=i, values={"abm_score": n % 100})
            for n, i in enumerate(ids)
        ]
        # A run describes each object once before writing (as Salesforce's ensure_fields
        # already did above); that one call is the same for 10 or 10 million records.
        connector.describe("contacts")
        before = _calls(server.url)
        started = time.perf_counter()
        results = connector.write("contacts", patches)
        batched_seconds = time.perf_counter() - started
        batched_calls = _calls(server.url) - before
        assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
        from hubspot import Client
        from hubspot.crm.contacts import SimplePublicObjectInput

        client = Client.create(access_token="sandbox-token", host=server.url)
        before = _calls(server.url)
        started = time.perf_counter()
        for n, record_id in enumerate(ids[:sample]):
            client.crm.contacts.basic_api.update(
                record_id, SimplePublicObjectInput(properties={"abm_score": str((n + 1) % 100)})
            )
        naive_seconds = time.perf_counter() - started
        naive_calls = _calls(server.url) - before
    return {
        "system": "HubSpot",
        "records": len(ids),
        "calls": batched_calls,
        "seconds": batched_seconds,
        "naive_records": sample,
        "naive_calls": naive_calls,
        "naive_seconds": naive_seconds,
        "target": 10,
    }


def dynamics(records: int, sample: int) -> dict[str, Any]:
    import httpx

    config = DynamicsConfig(requests_per_window=10_000_000)
    app = dynamics_app(config=config)
    sandbox = app.state.sandbox
    ids = sandbox.store.insert_many(
        "lead",
        [{"lastname": f"Lead {i}", "emailaddress1": f"l{i}@acme.io"} for i in range(records)],
    )
    with SandboxServer(app, tls=True) as server:
        connector = DynamicsConnector(
            server.url,
            config.tenant_id,
            config.client_id,
            SecretStr(config.client_secret),
            authority_host=server.url,
            verify=str(server.ca_file),
        )
        connector.ensure_fields(FieldSpec(obj="lead", fields=[HS_SCORE]))
        patches = [
            Patch(obj="lead", record_id=i, values={"abm_score": n % 100}) for n, i in enumerate(ids)
        ]
        connector.describe("lead")
        before = sandbox.api_used
        started = time.perf_counter()
        results = connector.write("lead", patches)
        batched_seconds = time.perf_counter() - started
        batched_calls = sandbox.api_used - before
        assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
        # The naive loop: one PATCH per record, as a script on the Web API would do.
        token = httpx.post(
            f"{server.url}/{config.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": config.client_id,
                "client_secret": config.client_secret,
                "scope": f"{server.url}/.default",
            },
            verify=ssl.create_default_context(cafile=str(server.ca_file)),
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "If-Match": "*"}
        context = ssl.create_default_context(cafile=str(server.ca_file))
        with httpx.Client(base_url=f"{server.url}/api/data/v9.2", verify=context) as client:
            before = sandbox.api_used
            started = time.perf_counter()
            for n, record_id in enumerate(ids[:sample]):
                answer = client.patch(
                    f"/leads({record_id})", json={"abm_score": (n + 1) % 100}, headers=headers
                )
                answer.raise_for_status()
            naive_seconds = time.perf_counter() - started
            naive_calls = sandbox.api_used - before
        connector.close()
    return {
        "system": "Dynamics",
        "records": len(ids),
        "calls": batched_calls,
        "seconds": batched_seconds,
        "naive_records": sample,
        "naive_calls": naive_calls,
        "naive_seconds": naive_seconds,
        "target": 1,
    }


def _calls(url: str) -> int:
    counts: dict[str, int] = requests.get(f"{url}/__sandbox/requests", timeout=10).json()
    return sum(counts.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument(
        "--naive-sample", type=int, default=500, help="records the one-call-per-record loop writes"
    )
    args = parser.parse_args()
    rows = [
        salesforce(args.records, args.naive_sample),
        hubspot(args.records, args.naive_sample),
        dynamics(args.records, args.naive_sample),
    ]
    print(
        f"{'system':<12}{'records':>9}{'calls':>7}{'calls/1k':>10}{'target':>8}"
        f"{'naive calls/1k':>16}{'records/s':>11}{'naive rec/s':>13}{'speed-up':>10}"
    )
    for row in rows:
        per_k = 1000 * row["calls"] / row["records"]
        naive_per_k = 1000 * row["naive_calls"] / row["naive_records"]
        rate = row["records"] / row["seconds"]
        naive_rate = row["naive_records"] / row["naive_seconds"]
        print(
            f"{row['system']:<12}{row['records']:>9,}{row['calls']:>7}{per_k:>10.2f}"
            f"{row['target']:>8}{naive_per_k:>16.0f}{rate:>11,.0f}{naive_rate:>13,.0f}"
            f"{rate / naive_rate:>9.1f}x"
        )
        status = "meets" if per_k <= row["target"] else "MISSES"
        print(
            f"  {row['system']}: {per_k:.2f} calls per 1,000 records, {status} the target "
            f"of {row['target']}; {naive_per_k / per_k:.0f}x fewer calls than one per record"
        )


if __name__ == "__main__":
    main()
