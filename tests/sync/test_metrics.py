"""Prometheus metrics of ``abmsync sync``: scraped over HTTP and read from the textfile."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from abmsync.cli import main
from abmsync.sync.engine import SyncSummary
from abmsync.sync.metrics import RUN_STATUSES, SyncMetrics
from abmsync.sync.store import Store
from tests.sync.crm_env import MAPPINGS, CrmEnv

AS_OF = "2026-11-29T12:00:00Z"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def cli_env(env: CrmEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CrmEnv:
    """The emulators, with the ``abmsync`` CLI pointed at them through its settings."""
    for key, value in {**env.env(), "ABMSYNC_MAPPINGS": str(MAPPINGS)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no abmsync.toml or .env of the checkout
    return env


def samples(text: str) -> Samples:
    """Every sample of an exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_matches_run(found: Samples, run: dict[str, object]) -> None:
    """The metrics say what the run's ``--json`` summary said."""
    sent = run["sent"]
    assert isinstance(sent, dict) and sent
    for name, stats in sent.items():
        system, obj = name.split("/", 1)
        labels = {"system": system, "object": obj}
        assert value(found, "abmsync_sync_records_written_total", **labels) == stats["written"]
        assert value(found, "abmsync_sync_records_rejected_total", **labels) == stats["rejected"]
    read = run["read"]
    assert isinstance(read, dict)
    for name, stats in read.items():
        system, obj = name.split("/", 1)
        assert value(found, "abmsync_sync_records_read_total", system=system, object=obj) == (
            stats["records"] + stats["deleted"]
        )
    calls = run["api_calls"]
    assert isinstance(calls, dict) and calls["salesforce"] > 0
    for system, count in calls.items():
        assert value(found, "abmsync_api_calls_total", system=system) == count
    quota = run["api_quota"]
    assert isinstance(quota, dict)
    salesforce = quota["salesforce"]  # the org reports its quota in Sforce-Limit-Info
    assert (
        value(found, "abmsync_api_daily_calls_remaining", system="salesforce")
        == (salesforce["remaining"])
    )
    assert (
        value(found, "abmsync_api_daily_calls_limit", system="salesforce")
        == (salesforce["daily_max"])
    )
    hubspot = quota["hubspot"]  # private-app answers carry X-HubSpot-RateLimit-Daily(-Remaining)
    assert 0 < hubspot["remaining"] < hubspot["daily_max"]
    assert (
        value(found, "abmsync_api_daily_calls_remaining", system="hubspot")
        == (hubspot["remaining"])
    )
    assert value(found, "abmsync_api_daily_calls_limit", system="hubspot") == hubspot["daily_max"]


def test_a_run_is_scraped_over_http_as_it_reported_itself(env: CrmEnv) -> None:
    summary: SyncSummary = env.sync()
    assert summary.status == "succeeded" and summary.counts()["written"] > 0
    metrics = SyncMetrics()
    with Store.open(env.database) as store:
        metrics.record_run(summary, store.open_dead_letters())
    with metrics.serve(0, "127.0.0.1") as port:
        answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert answer.status_code == 200
    found = samples(answer.text)
    assert_matches_run(found, json.loads(json.dumps(summary.as_dict(), default=str)))
    assert value(found, "abmsync_sync_runs_total", status="succeeded") == 1
    assert all(("abmsync_sync_runs_total", (("status", s),)) in found for s in RUN_STATUSES)
    assert value(found, "abmsync_sync_run_duration_seconds_count") == 1
    assert value(found, "abmsync_sync_last_run_duration_seconds") == pytest.approx(summary.seconds)
    assert value(found, "abmsync_sync_last_success_timestamp_seconds") == pytest.approx(
        time.time(), abs=60
    )
    with pytest.raises(httpx.ConnectError):  # the server is gone with the block
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)


def test_a_textfile_is_written_after_the_run_with_its_counts_and_dead_letters(
    cli_env: CrmEnv, tmp_path: Path
) -> None:
    cli_env.salesforce.add_validation_rule(
        "Lead", lambda values: values.get("ABM_Grade__c") == "D", "Grade D needs a review"
    )
    textfile = tmp_path / "textfile" / "abmsync.prom"
    textfile.parent.mkdir()
    result = CliRunner().invoke(
        main, ["sync", "--as-of", AS_OF, "--json", "--metrics-file", str(textfile)]
    )
    assert result.exit_code == 3, result.output  # partial: two leads rejected
    run = json.loads(result.stdout)
    found = samples(textfile.read_text())
    assert_matches_run(found, run)
    assert value(found, "abmsync_sync_runs_total", status="partial") == 1
    assert value(found, "abmsync_sync_records_rejected_total", system="salesforce", object="Lead")
    assert value(found, "abmsync_dead_letters_open", connector="salesforce") == 2
    assert value(found, "abmsync_sync_last_success_timestamp_seconds") == 0
    assert [p.name for p in textfile.parent.iterdir()] == ["abmsync.prom"]  # no temporary left


def test_the_textfile_counts_a_run_that_could_not_start(
    cli_env: CrmEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABMSYNC_METRICS_FILE", str(tmp_path / "abmsync.prom"))
    result = CliRunner().invoke(main, ["sync", "--rules", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1
    found = samples((tmp_path / "abmsync.prom").read_text())
    assert value(found, "abmsync_sync_runs_total", status="failed") == 1
    assert value(found, "abmsync_sync_runs_total", status="succeeded") == 0


def test_a_metrics_file_in_a_missing_directory_stops_before_the_run(
    cli_env: CrmEnv, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["sync", "--as-of", AS_OF, "--metrics-file", str(tmp_path / "nowhere" / "a.prom")]
    )
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "no such directory" in result.stderr
    with Store.open(cli_env.database) as store:
        assert store.recent_runs() == []


def test_a_metrics_port_in_use_is_one_clear_line_and_no_run(cli_env: CrmEnv) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        options = ["--metrics-port", str(port), "--metrics-address", "127.0.0.1"]
        result = CliRunner().invoke(main, ["sync", "--as-of", AS_OF, *options])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: metrics port {port} is already in use on 127.0.0.1; "
        "choose another with --metrics-port\n"
    )
    with Store.open(cli_env.database) as store:
        assert store.recent_runs() == []


@pytest.fixture
def scheduled_sync(cli_env: CrmEnv, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``abmsync sync --every 1h --metrics-port N`` in a process of its own, stopped at the end."""
    port = free_port()
    command = [sys.executable, "-m", "abmsync.cli", "--log-format", "json", "--log-level"]
    command += ["info", "sync", "--as-of", AS_OF, "--every", "1h", "--json"]
    command += ["--metrics-port", str(port), "--metrics-address", "127.0.0.1"]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(MAPPINGS.parents[1])},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_a_scheduled_sync_serves_metrics_between_runs_and_stops_serving_on_sigterm(
    scheduled_sync: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = scheduled_sync
    url = f"http://127.0.0.1:{port}/metrics"
    found: Samples = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            found = samples(httpx.get(url, timeout=5).text)
        except httpx.TransportError:
            found = {}
        if found.get(("abmsync_sync_runs_total", (("status", "succeeded"),))):
            break
        time.sleep(0.2)
    assert found, f"no metrics served: {process.poll()=}"
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    run = json.loads(out)  # the first run, waiting for the next when stopped
    assert_matches_run(found, run)
    assert value(found, "abmsync_sync_runs_total", status="succeeded") == 1
    logged = [json.loads(line) for line in err.splitlines()]  # JSON lines, as asked
    assert any(line.get("step") == "metrics" and line.get("port") == port for line in logged)
    finished = [line for line in logged if line.get("step") == "finish"]
    assert [line["run_id"] for line in finished] == [run["run_id"]]
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=5)
