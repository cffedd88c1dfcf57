"""The ``abmsync`` command line: parse options, call one library function, render.

Domain errors (:class:`abmsync.errors.AbmsyncError`) become one red line and
a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from abmsync.clikit import (
    CliError,
    ExitCode,
    console,
    domain_errors,
    err_console,
    parse_as_of,
)
from abmsync.errors import ConfigError
from abmsync.logs import DEFAULT_LEVEL, FORMATS, LEVELS, configure_logging
from abmsync.tenant_commands import (
    TenantSelection,
    selected_state,
    selected_store,
    tenant_option,
)

rules_option = click.option(
    "--rules",
    "rules_path",
    type=click.Path(path_type=Path),
    help="rules YAML file (required without --tenant)",
)

mapping_option = click.option(
    "--mapping",
    "mappings",
    multiple=True,
    type=click.Path(path_type=Path),
    help="YAML field mapping for an input file in vendor columns (repeatable)",
)


class _Commands(click.Group):
    """The command tree; abmsync's own errors raised by any command end as one line."""

    def invoke(self, ctx: click.Context) -> Any:
        with domain_errors():
            return super().invoke(ctx)


@click.group(cls=_Commands)
@click.version_option(package_name="abmsync")
@click.option(
    "--log-level",
    type=click.Choice(list(LEVELS), case_sensitive=False),
    default=DEFAULT_LEVEL,
    envvar="ABMSYNC_LOG_LEVEL",
    show_default=True,
    show_envvar=True,
    help="log to stderr from this level up",
)
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="text",
    envvar="ABMSYNC_LOG_FORMAT",
    show_default=True,
    show_envvar=True,
    help="log lines as text, or one JSON object per line",
)
def main(log_level: str, log_format: str) -> None:
    """abmsync: declarative lead and account scoring, lifecycle and CRM sync."""
    configure_logging(log_level, log_format)


# --- rules -------------------------------------------------------------------


@main.group()
def rules() -> None:
    """Validate, test and inspect a rules file."""


@rules.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def rules_validate(files: tuple[Path, ...]) -> None:
    """Check rules FILES; print every problem as file:line:column: message."""
    from abmsync.rules.loader import RulesError, load_rules

    failed = False
    for path in files:
        try:
            loaded = load_rules(path)
        except RulesError as exc:
            failed = True
            for diagnostic in exc.diagnostics:
                click.echo(str(diagnostic))
            continue
        counts = (
            f"{len(loaded.ruleset.fit)} fit rules, {len(loaded.ruleset.engagement.events)} "
            f"events, {len(loaded.ruleset.tests)} tests"
        )
        console.print(f"[green]ok[/] {path} ({counts}; version {loaded.version})", highlight=False)
    if failed:
        sys.exit(1)


@rules.command("test")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print results as JSON")
def rules_test(file: Path, as_json: bool) -> None:
    """Run the tests: block of FILE and show each case passed or failed."""
    from abmsync.rules.loader import load_rules
    from abmsync.rules.testing import run_rule_tests

    with domain_errors():
        loaded = load_rules(file)
    results = run_rule_tests(loaded)
    if not results:
        raise CliError(f"{file}: no tests: block to run")
    failed = [r for r in results if not r.passed]
    if as_json:
        payload = [
            {"name": r.name, "passed": r.passed, "checks": [vars(c) for c in r.checks]}
            for r in results
        ]
        click.echo(json.dumps(payload, indent=2, default=str))
    else:
        for result in results:
            mark = "[green]PASS[/]" if result.passed else "[red]FAIL[/]"
            console.print(f"{mark} {result.name}", highlight=False)
            for check in result.checks:
                if not check.passed:
                    console.print(
                        f"     {check.field}: expected [bold]{check.expected}[/], "
                        f"got [bold]{check.actual}[/]",
                        highlight=False,
                    )
        console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)


def _data_inputs(data_dir: Path | None, mappings: tuple[Path, ...] = ()) -> Any:
    """Inputs from ``--data`` or, without it, the configured data directory."""
    from abmsync.settings import Settings
    from abmsync.sync.scoring import Inputs

    found = Inputs.from_directory(data_dir or Settings().data_dir)
    return Inputs(found.people, found.touchpoints, found.accounts, mappings)


@rules.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="data directory (default: settings data_dir, ./abmsync-data)",
)
@click.option("--as-of", "as_of", help="compare as of this ISO time (default: now)")
@click.option(
    "--weeks",
    default=8,
    show_default=True,
    type=click.IntRange(1, 520),
    help="weeks of MQL volume to replay",
)
@click.option(
    "--sample", default=10, show_default=True, type=click.IntRange(0), help="changed people to show"
)
@click.option("--json", "as_json", is_flag=True, help="print the comparison as JSON")
def rules_diff(
    old: Path,
    new: Path,
    data_dir: Path | None,
    as_of: str | None,
    weeks: int,
    sample: int,
    as_json: bool,
) -> None:
    """What changes for whom if NEW replaces OLD: grades, priorities, stages, owners, MQLs."""
    from abmsync.rules.loader import load_rules
    from abmsync.sync.whatif import run_diff

    with domain_errors():
        before, after = load_rules(old), load_rules(new)
        moment = parse_as_of(as_of) or datetime.now(UTC)
        result = run_diff(before, after, _data_inputs(data_dir), as_of=moment, weeks=weeks)
    from abmsync.render import diff_as_dict, render_diff

    if as_json:
        click.echo(json.dumps(diff_as_dict(result, sample), indent=2, default=str))
    else:
        render_diff(console, result, sample)


@rules.command("schema")
def rules_schema() -> None:
    """Print the JSON Schema of rules files (for editor validation)."""
    from abmsync.rules.model import RuleSet

    click.echo(json.dumps(RuleSet.model_json_schema(by_alias=True), indent=2))


# --- score -------------------------------------------------------------------


@main.command("score")
@rules_option
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="directory with people/touchpoints/accounts files",
)
@click.option("--people", type=click.Path(path_type=Path), help="people file")
@click.option("--touchpoints", type=click.Path(path_type=Path), help="touchpoints file")
@click.option("--accounts", type=click.Path(path_type=Path), help="accounts file")
@mapping_option
@click.option("--as-of", "as_of", help="score as of this ISO time (default: now)")
@click.option(
    "--out", type=click.Path(path_type=Path), help="write scores here (.parquet, .csv or .jsonl)"
)
@click.option("--database", "database", help="state database URL (default: settings)")
@tenant_option
@click.option("--no-ledger", is_flag=True, help="do not record scores in the state database")
@click.option("--explain", "explain_email", help="explain the score of the person with this email")
@click.option(
    "--top",
    default=10,
    show_default=True,
    type=click.IntRange(0),
    help="rows in the top-people table",
)
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def score_command(
    rules_path: Path | None,
    data_dir: Path | None,
    people: Path | None,
    touchpoints: Path | None,
    accounts: Path | None,
    mappings: tuple[Path, ...],
    as_of: str | None,
    out: Path | None,
    database: str | None,
    selection: TenantSelection,
    no_ledger: bool,
    explain_email: str | None,
    top: int,
    as_json: bool,
) -> None:
    """Score people and accounts with a rules file."""
    from abmsync.rules.loader import load_rules
    from abmsync.sync.scoring import Inputs, score_files

    with domain_errors():
        state = selected_state(selection, database=database, rules_path=rules_path)
        loaded = load_rules(state.rules_file())
        if data_dir is not None:
            inputs = Inputs.from_directory(data_dir)
            inputs = Inputs(
                people or inputs.people,
                touchpoints or inputs.touchpoints,
                accounts or inputs.accounts,
                mappings,
            )
        elif people is not None:
            inputs = Inputs(people, touchpoints, accounts, mappings)
        else:
            raise ConfigError("give --data DIR or --people FILE (see abmsync score --help)")
        url = None if no_ledger or explain_email else state.database_url
        steps = 2 + (out is not None and not explain_email) + (url is not None)
        with _progress(steps, quiet=as_json) as step:
            result, summary = score_files(
                loaded,
                inputs,
                as_of=parse_as_of(as_of),
                out=None if explain_email else out,
                database_url=url,
                namespace=state.namespace,
                progress=step,
            )
    if explain_email:
        from abmsync.render import render_explanation

        found = render_explanation(console, result, explain_email, as_json=as_json)
        if not found:
            raise CliError(f"no person with email {explain_email!r} in {inputs.people}")
        return
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
        return
    from abmsync.render import render_score_summary

    render_score_summary(console, result, summary, top=top)


@contextmanager
def _progress(steps: int, *, quiet: bool) -> Iterator[Any]:
    """A progress bar over ``steps`` named steps; each call starts the next one."""
    if quiet or not err_console.is_terminal:
        yield lambda message: None
        return
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=steps)
        started = [False]

        def step(message: str) -> None:
            if started[0]:
                progress.advance(task)
            started[0] = True
            progress.update(task, description=message)

        yield step
        progress.update(task, completed=steps)


# --- lifecycle pass ----------------------------------------------------------------


@main.command("run")
@rules_option
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="directory with people/touchpoints/accounts (and owners) files",
)
@click.option(
    "--owners",
    type=click.Path(path_type=Path),
    help="owners file (id, name, queue, max_open, available); default DATA/owners.*",
)
@mapping_option
@click.option("--as-of", "as_of", help="run as of this ISO time (default: now)")
@click.option("--database", "database", help="state database URL (default: settings)")
@tenant_option
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def run_command(
    rules_path: Path | None,
    data_dir: Path,
    owners: Path | None,
    mappings: tuple[Path, ...],
    as_of: str | None,
    database: str | None,
    selection: TenantSelection,
    as_json: bool,
) -> None:
    """One scoring and lifecycle pass: score, move stages, route, check SLAs, record."""
    from abmsync.rules.loader import load_rules
    from abmsync.sync.lifecycle_job import run_pass
    from abmsync.sync.scoring import Inputs

    with domain_errors():
        state = selected_state(selection, database=database, rules_path=rules_path)
        loaded = load_rules(state.rules_file())
        found = Inputs.from_directory(data_dir)
        inputs = Inputs(found.people, found.touchpoints, found.accounts, mappings)
        with _progress(7, quiet=as_json) as step:
            summary = run_pass(
                loaded,
                inputs,
                database_url=state.database_url,
                namespace=state.namespace,
                owners=owners,
                as_of=parse_as_of(as_of),
                progress=step,
            )
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2, default=str))
        return
    from abmsync.render import render_pass

    render_pass(console, summary)


@main.command("backtest")
@click.option(
    "--rules",
    "rules_paths",
    required=True,
    multiple=True,
    type=click.Path(path_type=Path),
    help="rules file (repeat to compare versions)",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="data directory (default: settings data_dir, ./abmsync-data)",
)
@click.option("--from", "start", required=True, help="replay from this ISO date")
@click.option("--to", "end", required=True, help="replay up to this ISO date")
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
def backtest_command(
    rules_paths: tuple[Path, ...], data_dir: Path | None, start: str, end: str, as_json: bool
) -> None:
    """Replay history week by week: MQLs, MQL→opportunity and MQL→won per rule set."""
    from abmsync.rules.loader import load_rules
    from abmsync.sync.whatif import run_backtest

    begin, finish = parse_as_of(start), parse_as_of(end)
    assert begin is not None and finish is not None
    if finish <= begin:
        raise CliError(f"--to ({end}) must come after --from ({start})")
    with domain_errors():
        loaded = [load_rules(path) for path in rules_paths]
        result = run_backtest(loaded, _data_inputs(data_dir), start=begin, end=finish)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, default=str))
        return
    from abmsync.render import render_backtest

    render_backtest(console, result, [str(p) for p in rules_paths])


@main.command("sla")
@click.option("--stage", default="mql", show_default=True, help="stage whose SLA to report")
@click.option(
    "--accepted",
    default="sal,sql,opportunity",
    show_default=True,
    help="comma-separated stages that count as accepted by sales",
)
@click.option("--database", "database", help="state database URL (default: settings)")
@tenant_option
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def sla_command(
    stage: str, accepted: str, database: str | None, selection: TenantSelection, as_json: bool
) -> None:
    """Breach rate and time-to-accept from the ledgers, overall and per owner."""
    from abmsync.rules.sla import sla_report

    with domain_errors(), selected_store(selection, database) as store:
        report = sla_report(
            store.sla_events(),
            store.stage_changes(),
            stage=stage,
            accepted=[s.strip() for s in accepted.split(",") if s.strip()],
        )
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
        return
    from abmsync.render import render_sla

    render_sla(console, report)


@main.command("history")
@click.argument("who", metavar="EMAIL|ID")
@click.option("--as-of", "as_of", help="show the state as of this ISO time (default: now)")
@click.option("--database", "database", help="state database URL (default: settings)")
@tenant_option
@click.option("--json", "as_json", is_flag=True, help="print the history as JSON")
def history_command(
    who: str, as_of: str | None, database: str | None, selection: TenantSelection, as_json: bool
) -> None:
    """A person's scores, stages, owners and SLA events from the ledgers, and their state
    as of a time, with the reasons and rules version recorded then.

    EMAIL|ID is an email, abmsync's person id, or a vendor record id (a
    Salesforce Lead or Contact id, a HubSpot contact id ...).
    """
    from abmsync.sync.history import person_history

    moment = parse_as_of(as_of) or datetime.now(UTC)
    with domain_errors(), selected_store(selection, database) as store:
        history = person_history(store, who, as_of=moment)
    from abmsync.render_history import history_as_dict, render_history

    if as_json:
        click.echo(json.dumps(history_as_dict(history), indent=2))
        return
    render_history(console, history)


# --- CRM and marketing platforms ------------------------------------------------------------


@main.group()
def crm() -> None:
    """Check the configured CRM and marketing platforms and install abmsync's fields."""


@crm.command("check")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(path_type=Path),
    help="rules file whose writeback fields must exist",
)
@click.option("--json", "as_json", is_flag=True, help="print the checks as JSON")
def crm_check(rules_path: Path | None, as_json: bool) -> None:
    """Authentication, permissions, API quota left and abmsync fields, per system."""
    from abmsync.rules.loader import load_rules
    from abmsync.settings import Settings
    from abmsync.sync.crm import check_all

    with domain_errors():
        ruleset = load_rules(rules_path).ruleset if rules_path else None
        reports = check_all(Settings(), ruleset)
    if as_json:
        click.echo(json.dumps([r.model_dump() for r in reports], indent=2))
    else:
        for report in reports:
            for item in report.items:
                mark = "[green]ok[/]  " if item.ok else "[red]FAIL[/]"
                console.print(
                    f"{mark} {report.connector:<10} {item.name}: {item.detail}", highlight=False
                )
    if not all(report.ok for report in reports):
        sys.exit(1)


@crm.command("install-fields")
@click.option(
    "--rules",
    "rules_path",
    required=True,
    type=click.Path(path_type=Path),
    help="rules file whose writeback section names the fields",
)
def crm_install_fields(rules_path: Path) -> None:
    """Create abmsync's score, grade, stage and reasons fields where missing (idempotent)."""
    from abmsync.rules.loader import load_rules
    from abmsync.settings import Settings
    from abmsync.sync.crm import install_fields

    with domain_errors():
        installed = install_fields(Settings(), load_rules(rules_path).ruleset)
    for item in installed:
        created = ", ".join(item.created) if item.created else "nothing to create"
        console.print(f"{item.system} {item.obj}: {created}", highlight=False)


# --- operations --------------------------------------------------------------------------


@main.command("status")
@click.option(
    "--runs", default=10, show_default=True, type=click.IntRange(1), help="recent runs to show"
)
@click.option("--database", "database", help="state database URL (default: settings)")
@tenant_option
@click.option("--json", "as_json", is_flag=True, help="print the status as JSON")
def status_command(
    runs: int, database: str | None, selection: TenantSelection, as_json: bool
) -> None:
    """Recent runs with counts, API calls and errors; cursors; open dead letters."""
    with domain_errors(), selected_store(selection, database) as store:
        recent = store.recent_runs(runs)
        cursors = store.all_cursors()
        letters = store.list_dead_letters()
    if as_json:
        payload = {
            "runs": [run.model_dump(mode="json") for run in recent],
            "cursors": [
                {**row, "updated_at": row["updated_at"].isoformat()}
                for row in cursors.iter_rows(named=True)
            ],
            "dead_letters": len(letters),
        }
        click.echo(json.dumps(payload, indent=2))
        return
    from abmsync.render import render_status

    render_status(console, recent, cursors, letters)


@main.group()
def deadletters() -> None:
    """Records a vendor rejected, kept with the vendor's code and message."""


@deadletters.command("list")
@click.option("--connector", help="only this connector (e.g. salesforce)")
@click.option("--all", "include_resolved", is_flag=True, help="include resolved ones")
@click.option("--database", "database", help="state database URL (default: settings)")
@tenant_option
@click.option("--json", "as_json", is_flag=True, help="print them as JSON")
def deadletters_list(
    connector: str | None,
    include_resolved: bool,
    database: str | None,
    selection: TenantSelection,
    as_json: bool,
) -> None:
    """List dead letters, newest attempt last."""
    with domain_errors(), selected_store(selection, database) as store:
        letters = store.list_dead_letters(connector, include_resolved=include_resolved)
    if as_json:
        click.echo(json.dumps([letter.model_dump(mode="json") for letter in letters], indent=2))
        return
    from abmsync.render import render_dead_letters

    render_dead_letters(console, letters)


def _register_sync_commands() -> None:
    from abmsync.sync.commands import retry, sync
    from abmsync.tenant_commands import tenants

    main.add_command(sync)
    main.add_command(tenants)
    deadletters.add_command(retry)


_register_sync_commands()


def _register_worker_commands() -> None:
    from abmsync.workers.commands import schedule, worker

    main.add_command(worker)
    main.add_command(schedule)


_register_worker_commands()


def _register_report_command() -> None:
    from abmsync.report.command import report

    main.add_command(report)


_register_report_command()


def _register_accounts_command() -> None:
    from abmsync.accounts.command import accounts

    main.add_command(accounts)


_register_accounts_command()


# --- sandbox and demo -----------------------------------------------------------


@main.group()
def sandbox() -> None:
    """Local emulators and generated demo data."""


def _register_sandbox_commands() -> None:
    from abmsync.sandbox.commands import generate
    from abmsync.sandbox.serve import serve

    sandbox.add_command(generate)
    sandbox.add_command(serve)


_register_sandbox_commands()


@main.command("demo")
@click.option(
    "--people",
    default=3000,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="people to generate",
)
@click.option(
    "--seed",
    default=7,
    show_default=True,
    type=click.IntRange(0, 2**32 - 1),
    help="random seed of the data",
)
@click.option(
    "--dir",
    "directory",
    default="abmsync-demo",
    show_default=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="where the demo keeps its state database",
)
@click.option(
    "--rules",
    "rules_path",
    default="examples/rules.yaml",
    show_default=True,
    type=click.Path(path_type=Path),
)
@click.option(
    "--mappings",
    default="examples/mappings",
    show_default=True,
    type=click.Path(path_type=Path),
)
@click.option(
    "--crm",
    type=click.Choice(["salesforce", "dynamics"]),
    default="salesforce",
    show_default=True,
    help="the sandbox CRM: Salesforce or Dynamics 365",
)
@click.option(
    "--map",
    "platform",
    type=click.Choice(["hubspot", "eloqua"]),
    default="hubspot",
    show_default=True,
    help="the sandbox marketing automation platform: HubSpot or Oracle Eloqua",
)
@click.option("--serve", is_flag=True, help="keep the sandbox running afterwards")
def demo(
    people: int,
    seed: int,
    directory: Path,
    rules_path: Path,
    mappings: Path,
    crm: str,
    platform: str,
    serve: bool,
) -> None:
    """A sandbox CRM (Salesforce or Dynamics 365) and marketing platform (HubSpot or
    Eloqua) with generated data: sync, a week later, sync again.

    Exits 1 if a sync failed, 3 if one was partial (records rejected), as
    `abmsync sync` does. Leaves an abmsync.toml here that points report,
    accounts, history, status ... at the demo's state (an abmsync.toml of
    your own is left alone).
    """
    from abmsync.demo import run_demo
    from abmsync.settings import TOML_FILE

    with domain_errors():
        summaries = run_demo(
            console,
            people=people,
            seed=seed,
            directory=directory,
            rules_path=rules_path,
            mappings=mappings,
            serve=serve,
            crm=crm,
            platform=platform,
            settings_file=Path(TOML_FILE),
        )
    statuses = {s.status for s in summaries}
    if statuses - {"succeeded", "partial"}:
        sys.exit(ExitCode.FAILED)
    if "partial" in statuses:
        sys.exit(ExitCode.PARTIAL)  # rejected records, as `abmsync sync` would report


if __name__ == "__main__":
    main()
