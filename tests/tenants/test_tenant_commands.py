"""``--tenant NAME`` of the commands that read or write a tenant's state, over two clients."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from abmsync.clikit import ExitCode
from abmsync.tenants import find_tenant
from abmsync.workers.cache import TenantCache
from tests.tenants.conftest import Client, _drop_namespaces
from tests.tenants.test_tenant_sync import AS_OF, VERA, cli, lead_score


def synced(clients: dict[str, Client], *extra: str) -> str:
    code, out = cli("sync", "--all-tenants", "--as-of", AS_OF, *extra)
    assert code == ExitCode.OK, out
    return out


def test_state_commands_read_the_tenant_named_and_only_it(clients: dict[str, Client]) -> None:
    synced(clients)
    scores = {}
    for name in ("acme", "beta"):
        code, out = cli("history", VERA, "--tenant", name, "--as-of", AS_OF, "--json")
        assert code == 0, out
        scores[name] = json.loads(out)["state"]["score"]["total"]
        assert scores[name] == lead_score(clients[name], VERA)
    assert scores["beta"] == scores["acme"] + 20  # beta's rules, beta's ledger
    for name in ("acme", "beta"):
        code, out = cli("accounts", "--tenant", name, "--json")
        assert code == 0, out
        assert json.loads(out), out
        code, out = cli("sla", "--tenant", name, "--json")
        assert code == 0, out
        code, out = cli("deadletters", "list", "--tenant", name, "--json")
        assert code == 0 and json.loads(out) == [], out
    code, out = cli("deadletters", "retry", "--tenant", "beta")
    assert code == 0 and "no open dead letters" in out, out
    reports = {}
    for name in ("acme", "beta"):
        code, out = cli("report", "--tenant", name, "--json")
        assert code == 0, out
        reports[name] = json.loads(out)
    assert reports["acme"]["people"] == reports["beta"]["people"] > 0
    assert reports["acme"] != reports["beta"]  # scored by different rules


def test_history_of_a_tenant_never_synced_is_empty(clients: dict[str, Client]) -> None:
    code, out = cli("sync", "--tenant", "acme", "--as-of", AS_OF)
    assert code == 0, out
    code, out = cli("history", VERA, "--tenant", "acme", "--json")
    assert code == 0 and json.loads(out)["timeline"], out
    code, out = cli("history", VERA, "--tenant", "beta")
    assert code == ExitCode.FAILED  # beta's namespace knows no one
    assert out.count("\n") == 1 and "error:" in out


def scored(clients: dict[str, Client], name: str) -> int:
    """How many people the tenant's own score ledger holds."""
    with find_tenant(clients[name].file.parent, name).open_store() as store:
        return store.scores_as_of(datetime(2100, 1, 1, tzinfo=UTC)).height


def test_score_and_run_record_into_the_tenants_namespace(
    clients: dict[str, Client], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    code, out = cli("sandbox", "generate", "--people", "60", "--out", str(data))
    assert code == 0, out
    code, out = cli("score", "--tenant", "beta", "--data", str(data), "--as-of", AS_OF, "--json")
    assert code == 0, out
    rows = json.loads(out)["ledger_rows"]
    assert rows > 0 and scored(clients, "beta") == rows
    assert scored(clients, "acme") == 0
    code, out = cli("run", "--tenant", "acme", "--data", str(data), "--as-of", AS_OF, "--json")
    assert code == 0, out
    assert scored(clients, "acme") == rows
    code, out = cli("score", "--data", str(data))
    assert code == ExitCode.USAGE and "--rules" in out


@pytest.mark.parametrize(
    "command",
    [
        ["status", "--database", "sqlite:///other.db"],
        ["sla", "--database", "sqlite:///other.db"],
        ["history", VERA, "--database", "sqlite:///other.db"],
        ["deadletters", "list", "--database", "sqlite:///other.db"],
        ["deadletters", "retry", "--database", "sqlite:///other.db"],
        ["accounts", "--rules", "other.yaml"],
        ["report", "--mappings", "other"],
        ["score", "--rules", "other.yaml", "--data", "."],
        ["run", "--database", "sqlite:///other.db", "--data", "."],
    ],
)
def test_tenant_with_its_own_files_options_is_a_usage_error(
    clients: dict[str, Client], command: list[str]
) -> None:
    code, out = cli(*command, "--tenant", "acme")
    assert code == ExitCode.USAGE, out
    assert "cannot be combined with --tenant" in out
    assert not Path("other.db").exists()


def test_an_unknown_tenant_is_one_line(clients: dict[str, Client]) -> None:
    code, out = cli("accounts", "--tenant", "nobody")
    assert code == ExitCode.FAILED
    assert "no tenant 'nobody'" in out and "acme, beta" in out


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_tell_two_tenants_runs_apart(clients: dict[str, Client], tmp_path: Path) -> None:
    textfile = tmp_path / "abmsync.prom"
    out = synced(clients, "--json", "--metrics-file", str(textfile))
    runs, decoder, at = {}, json.JSONDecoder(), 0
    while out[at:].strip():
        run, at = decoder.raw_decode(out, len(out) - len(out[at:].lstrip()))
        runs[run["tenant"]] = run
    assert set(runs) == {"acme", "beta"}
    found = _samples(textfile.read_text())

    def value(name: str, **labels: str) -> float:
        return found[(name, tuple(sorted(labels.items())))]

    for name in ("acme", "beta"):
        assert value("abmsync_sync_runs_total", tenant=name, status="succeeded") == 1
        assert value("abmsync_sync_runs_total", tenant=name, status="failed") == 0
        calls = runs[name]["api_calls"]["salesforce"]
        assert value("abmsync_api_calls_total", tenant=name, system="salesforce") == calls
        written = runs[name]["sent"]["salesforce/Lead"]["written"]
        lead = {"tenant": name, "system": "salesforce", "object": "Lead"}
        assert value("abmsync_sync_records_written_total", **lead) == written
    assert runs["acme"]["api_calls"] != {} and written > 0
    assert all(dict(labels).get("tenant") in {"acme", "beta"} for _, labels in found)


def test_the_scheduler_cache_keeps_stores_and_notices_edited_or_removed_tenants(
    clients: dict[str, Client], postgres_database_url: str
) -> None:
    folder = clients["acme"].file.parent
    cache = TenantCache(folder)
    try:
        first = cache.every()
        assert [c.tenant.name for c in first] == ["acme", "beta"]
        again = cache.every()
        assert [c.store for c in again] == [c.store for c in first]  # nothing reopened
        beta_file = clients["beta"].file
        edit = 'name = "beta"\nnamespace = "beta_two"'
        beta_file.write_text(beta_file.read_text().replace('name = "beta"', edit))
        edited = {c.tenant.name: c for c in cache.every()}
        assert edited["beta"].tenant.namespace == "beta_two"
        assert edited["acme"].store is first[0].store
        clients["acme"].file.unlink()
        assert [c.tenant.name for c in cache.every()] == ["beta"]
        assert cache.cached() == [edited["beta"]]
    finally:
        cache.close()
        _drop_namespaces(postgres_database_url, ("beta_two",))
    assert cache.cached() == []
