"""``abmsync sync --tenant`` / ``--all-tenants`` and ``status --tenant`` over two clients' CRMs."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from abmsync.cli import main
from abmsync.clikit import ExitCode
from abmsync.tenants import find_tenant
from tests.tenants.conftest import Client

AS_OF = "2026-11-29T12:00:00Z"
VERA = "vera.lang@acme-robotics.com"


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def lead_score(client: Client, email: str) -> float | None:
    rows = client.crm.sf_rows("Lead", "Email", "ABM_Score__c")
    return next(r["ABM_Score__c"] for r in rows if r["Email"] == email)


def test_two_tenants_with_different_rules_score_into_their_own_crms_and_namespaces(
    clients: dict[str, Client],
) -> None:
    code, out = cli("sync", "--all-tenants", "--as-of", AS_OF)
    assert code == ExitCode.OK, out
    assert "acme: succeeded run 1" in out and "beta: succeeded run 1" in out
    acme, beta = clients["acme"], clients["beta"]
    # Vera works in a target industry: beta's rules give it 20 points more.
    assert lead_score(beta, VERA) == lead_score(acme, VERA) + 20  # type: ignore[operator]
    assert acme.crm.end_state()["leads"] != beta.crm.end_state()["leads"]
    # Each namespace holds its own tenant's runs and cursors only.
    for name in ("acme", "beta"):
        with find_tenant(acme.file.parent, name).open_store() as store:
            assert [run.id for run in store.recent_runs(5)] == [1]
            assert f"search_path={name}" in str(store.engine.url.query["options"])
    code, out = cli("status", "--tenant", "beta", "--json")
    assert code == 0, out
    status = json.loads(out)
    assert [run["status"] for run in status["runs"]] == ["succeeded"]
    assert {c["obj"] for c in status["cursors"]} >= {"Lead", "contacts"}


def test_one_tenant_runs_alone_and_a_second_run_writes_nothing(
    clients: dict[str, Client],
) -> None:
    code, out = cli("sync", "--tenant", "acme", "--as-of", AS_OF, "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["tenant"] == "acme" and first["counts"]["written"] > 0
    assert all(
        r["ABM_Score__c"] is None for r in clients["beta"].crm.sf_rows("Lead", "ABM_Score__c")
    )
    code, out = cli("sync", "--tenant", "acme", "--as-of", AS_OF, "--json")
    assert code == 0, out
    assert json.loads(out)["counts"]["written"] == 0
    code, out = cli("status", "--tenant", "beta", "--json")
    assert json.loads(out)["runs"] == []


def test_all_tenants_go_on_past_a_broken_tenant_and_exit_1(
    clients: dict[str, Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_SF_SECRET", "wrong-secret")  # acme's CRM refuses the login
    folder = clients["acme"].file.parent
    (folder / "gamma.toml").write_text('rules = "nowhere.yaml"\n[hubspot]\nhost = 1\n')
    code, out = cli("sync", "--all-tenants", "--as-of", AS_OF)
    assert code == ExitCode.FAILED, out
    assert "wrong-secret" not in out
    lines = {line.split(":")[0]: line for line in out.splitlines() if ": " in line}
    assert "failed" in lines["acme"]
    assert lines["beta"].startswith("beta: succeeded")
    assert "failed" in lines["gamma"] and "gamma.toml" in lines["gamma"]
    assert lead_score(clients["beta"], VERA) is not None
    assert lead_score(clients["acme"], VERA) is None
    code, out = cli("status", "--tenant", "acme", "--json")
    assert json.loads(out)["runs"][0]["status"] == "failed"


def test_an_unknown_tenant_or_a_conflicting_option_is_one_line(
    clients: dict[str, Client],
) -> None:
    code, out = cli("sync", "--tenant", "nobody")
    assert code == ExitCode.FAILED
    assert "no tenant 'nobody'" in out and "acme, beta" in out
    code, out = cli("sync", "--tenant", "acme", "--rules", "x.yaml")
    assert code == ExitCode.USAGE
    assert "each tenant's file sets its rules" in out
    code, out = cli("sync", "--tenant", "acme", "--all-tenants")
    assert code == ExitCode.USAGE
