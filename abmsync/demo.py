"""``abmsync demo``: the whole scoring story on generated data, in one command.

It generates a realistic B2B data set, validates and unit-tests the example
rules, scores everyone (recording the score ledger in a local SQLite state
database), explains the best-scored person and says where to look next.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from abmsync.errors import ConfigError
from abmsync.render import best_people, render_explanation, render_score_summary
from abmsync.rules.loader import load_rules
from abmsync.rules.testing import run_rule_tests
from abmsync.sandbox.generate import DEFAULT_AS_OF, generate_dataset, write_dataset
from abmsync.sync.scoring import Inputs, score_files


def run_demo(
    console: Console, *, people: int, seed: int, directory: Path, rules_path: Path
) -> None:
    """Generate, validate, test, score and explain; print each step."""
    if not rules_path.exists():
        raise ConfigError(f"{rules_path}: not found (run the demo from the abmsync checkout)")
    console.rule("[bold]1. Rules")
    loaded = load_rules(rules_path)
    results = run_rule_tests(loaded)
    failed = [r.name for r in results if not r.passed]
    if failed:
        raise ConfigError(f"{rules_path}: rule tests failed: {'; '.join(failed)}")
    console.print(
        f"{rules_path}: valid, {len(results)} rule tests passed, version {loaded.version}"
    )

    console.rule("[bold]2. Sandbox data")
    dataset = generate_dataset(people, seed=seed)
    written = write_dataset(dataset, directory / "data")
    for entity, path in written.items():
        rows = getattr(dataset, entity).height
        console.print(f"{entity:<14} {rows:>10,} rows  {path}", highlight=False)

    console.rule("[bold]3. Scoring")
    database = directory / "abmsync.db"
    out = directory / "scores.parquet"
    result, summary = score_files(
        loaded,
        Inputs.from_directory(directory / "data"),
        as_of=DEFAULT_AS_OF,
        out=out,
        database_url=f"sqlite:///{database}",
    )
    render_score_summary(console, result, summary, top=8)

    console.rule("[bold]4. Why is the top lead scored this way?")
    top = best_people(result.people, 1).row(0, named=True)
    render_explanation(console, result, str(top["email"]))
    console.rule("[bold]Next")
    console.print(
        f"abmsync score --rules {rules_path} --data {directory / 'data'} "
        f"--as-of {DEFAULT_AS_OF:%Y-%m-%d} --explain {top['email']}\n"
        f"abmsync rules validate {rules_path}   |   abmsync rules test {rules_path}",
        highlight=False,
    )
