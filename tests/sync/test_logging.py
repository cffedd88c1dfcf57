"""What a sync logs and reports while it runs: JSON lines without secrets, progress that adds up."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from abmsync.cli import main
from abmsync.logs import configure_logging
from abmsync.sandbox.salesforce.app import SandboxConfig
from abmsync.sync.events import ProgressEvent
from abmsync.sync.store import Store
from tests.sync.crm_env import MAPPINGS, TOKEN, CrmEnv, later

AS_OF = "2026-11-29T12:00:00Z"
DB_PASSWORD = "state-db-pass-9731"


@pytest.fixture
def env(env: CrmEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CrmEnv:
    """The emulators, with the ``abmsync`` CLI pointed at them through its settings."""
    for key, value in {**env.env(), "ABMSYNC_MAPPINGS": str(MAPPINGS)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ABMSYNC_LOG_LEVEL", raising=False)
    monkeypatch.delenv("ABMSYNC_LOG_FORMAT", raising=False)
    monkeypatch.chdir(tmp_path)  # no abmsync.toml or .env of the checkout
    return env
    configure_logging()  # later tests see the default again


def sync(*args: str) -> tuple[int, str, str]:
    """``abmsync [args] sync --as-of ...``: exit code, stdout, stderr."""
    result = CliRunner().invoke(main, [*args, "sync", "--as-of", AS_OF])
    return result.exit_code, result.stdout, result.stderr


def json_lines(stderr: str) -> list[dict[str, Any]]:
    lines = stderr.splitlines()
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]  # each line is one JSON object


def with_password(url: str) -> str:
    """``url`` with a password (a server that trusts the test user ignores it)."""
    parsed = make_url(url)
    if parsed.password is None:
        parsed = parsed.set(password=DB_PASSWORD)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, env: CrmEnv) -> str:
    """The state database the CLI uses: the test's SQLite file, or PostgreSQL with a password."""
    if request.param == "sqlite":
        return env.database
    return with_password(request.getfixturevalue("postgres_url"))


def test_a_debug_json_log_is_json_lines_with_run_ids_and_never_a_secret(
    env: CrmEnv, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SandboxConfig()
    user, password = next(iter(config.users.items()))
    # The password flow, so the password is sent too; faults, so retries are logged.
    monkeypatch.setenv("ABMSYNC_SALESFORCE__USERNAME", user)
    monkeypatch.setenv("ABMSYNC_SALESFORCE__PASSWORD", password)
    monkeypatch.setenv("ABMSYNC_DATABASE_URL", database)
    for faults in (env.sf_faults, env.hs_faults):
        faults.rate_limit = faults.server_error = 0.1
    env.sf_faults.token_expiry = 0.05
    # A token the org issues: the sync's own tokens have its prefix.
    sample = env.salesforce.issue_token(
        {
            "grant_type": "client_credentials",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        },
        env.sf_url,
    )["access_token"]
    token_prefix = sample.partition("!")[0] + "!"

    code, out, err = sync("--log-level", "debug", "--log-format", "json")

    assert code == 0, out + err
    secrets = [config.client_secret, password, TOKEN, token_prefix]
    db_password = make_url(database).password
    if db_password:
        secrets.append(str(db_password))
    for secret in secrets:
        assert secret not in err
        assert secret not in out
    lines = json_lines(err)
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    run = [line for line in lines if line["logger"].startswith("abmsync.sync.")]
    run_ids = {line["run_id"] for line in run}
    assert len(run_ids) == 1 and isinstance(next(iter(run_ids)), int)
    assert all(line["step"] for line in run)
    steps = {line["step"] for line in run}
    assert {"start", "read", "plan", "write", "finish"} <= steps
    assert any(line["step"] == "retry" and line["level"] == "warning" for line in lines)
    retry = next(line for line in lines if line["step"] == "retry")
    assert retry["system"] in ("salesforce", "hubspot") and retry["attempt"] >= 1
    assert retry["run_id"] in run_ids  # the run's id reaches the connectors' records too
    assert any(line["level"] == "debug" and line["step"] == "read" for line in lines)


def test_the_json_log_carries_the_run_counts_and_api_calls(env: CrmEnv) -> None:
    code, out, err = sync("--log-level", "info", "--log-format", "json")
    assert code == 0, out + err
    lines = json_lines(err)
    assert all(line["level"] != "debug" for line in lines)
    finish = [line for line in lines if line["step"] == "finish"]
    assert len(finish) == 1
    end = finish[0]
    assert end["status"] == "succeeded"
    assert end["counts"]["written"] == 9 and end["counts"]["people"] == 6
    assert end["api_calls"]["salesforce"] > 0 and end["api_calls"]["hubspot"] > 0
    assert end["duration_s"] > 0
    reads = {f"{line['system']}/{line['object']}": line for line in lines if line["step"] == "read"}
    assert reads["salesforce/Lead"]["records"] == 4
    assert sum(line["records"] for line in reads.values()) <= end["counts"]["read"]
    writes = {
        f"{line['system']}/{line['object']}": line for line in lines if line["step"] == "write"
    }
    assert writes["salesforce/Lead"]["planned"] == writes["salesforce/Lead"]["written"] == 4
    assert sum(line["written"] for line in writes.values()) == end["counts"]["written"]


def test_a_clean_sync_logs_nothing_at_the_default_level(env: CrmEnv) -> None:
    code, out, err = sync()
    assert code == 0, out
    assert err == ""
    code, out, err = sync("--log-level", "warning")
    assert code == 0, out
    assert err == ""


def test_the_log_level_and_format_come_from_the_environment(
    env: CrmEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABMSYNC_LOG_LEVEL", "INFO")
    monkeypatch.setenv("ABMSYNC_LOG_FORMAT", "text")
    code, out, err = sync()
    assert code == 0, out + err
    finish = [line for line in err.splitlines() if "step=finish" in line]
    assert len(finish) == 1
    assert " INFO " in finish[0] and "status=succeeded" in finish[0] and "run_id=1" in finish[0]


def test_a_taken_lock_and_a_spent_budget_are_warnings(
    env: CrmEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(env.database) as store:
        assert store.try_lock("sync", "someone-else", timedelta(minutes=5))
        code, out, err = sync("--log-format", "json")
        assert code == 0, out + err
        (skipped,) = json_lines(err)
        assert skipped["level"] == "warning" and skipped["step"] == "lock"
        assert skipped["status"] == "skipped" and skipped["holder"] == "someone-else"
        store.release_lock("sync", "someone-else")

    monkeypatch.setenv("ABMSYNC_SALESFORCE__MAX_CALLS_PER_RUN", "3")
    code, out, err = sync("--log-format", "json")
    assert code == 3, out + err
    lines = json_lines(err)
    assert [line["step"] for line in lines] == ["budget", "finish"]
    assert all(line["level"] == "warning" for line in lines)
    assert lines[1]["status"] == "partial" and lines[1]["run_id"] == lines[0]["run_id"]
    assert lines[1]["api_calls"]["salesforce"] <= 3


def test_a_bad_log_level_is_a_usage_error(env: CrmEnv) -> None:
    code, _, err = sync("--log-level", "loud")
    assert code == 2
    assert "--log-level" in err


# -- progress ---------------------------------------------------------------------------


def finals(events: list[ProgressEvent], kind: str) -> dict[str, ProgressEvent]:
    """The last event of each read (or read-back, or write), by ``system/object``."""
    found = [e for e in events if e.final and e.kind == kind]
    by_source = {e.source: e for e in found}
    assert len(by_source) == len(found), "one final event per read or write of an object"
    return by_source


def test_progress_reports_reads_and_writes_that_add_up_to_the_run_counts(env: CrmEnv) -> None:
    events: list[ProgressEvent] = []
    run = env.sync(progress=events.append, chunk=2)
    assert run.status == "succeeded", run.message
    counts = run.counts()

    reads = finals(events, "read")
    assert set(reads) == set(run.read)
    read_total = sum(e.done for e in reads.values())
    assert read_total == sum(s.records + s.read_back for s in run.read.values())
    assert reads["salesforce/Lead"].done == 4

    writes = finals(events, "write")
    assert set(writes) == {f"{p.system}/{p.obj}" for p in run.plans}
    assert all(e.done == e.total for e in writes.values())
    assert sum(e.done for e in writes.values()) == counts["planned"] == counts["written"] == 9
    # Per chunk of two: the four leads report 0, 2, 4 and the final 4.
    lead_writes = [e.done for e in events if e.kind == "write" and e.source == "salesforce/Lead"]
    assert lead_writes == [0, 2, 4, 4]
    # Each read or write starts at 0 and only counts up.
    for kind in ("read", "write"):
        for source in {e.source for e in events if e.kind == kind}:
            done = [e.done for e in events if e.kind == kind and e.source == source]
            assert done[0] == 0 and done == sorted(done)
    # Named steps come through as steps, with no counts.
    assert "resolving people" in [e.text for e in events if e.kind == "step"]

    again: list[ProgressEvent] = []
    idle = env.sync(as_of=later(0.01), progress=again.append)
    assert idle.counts()["read"] == 0
    # What it read is the first run's writes coming back, none counted as a change.
    came_back = {name: stats.read_back for name, stats in idle.read.items()}
    assert {name: e.done for name, e in finals(again, "read").items()} == came_back
    assert came_back["salesforce/Lead"] == 4
    assert all(e.done == 0 for e in finals(again, "write").values())
