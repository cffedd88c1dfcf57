"""Records a daily sync rewrites when nothing happened but time: reasons dated vs aged.

Seeds the sandbox emulators with a generated data set, syncs once, then plans
(``--dry-run``) the syncs of the following days with no new activity, under
two reasons formats side by side on the same data:

- ``date`` (the default): touchpoints dated, decayed points rounded like the score;
- ``base``: dated, undecayed points (the text changes only with new activity);
- ``age``: "3 days ago" and points to one decimal, the format of earlier versions.

What a dry run plans is what a real run would write, so the figures are the
records (and API calls) each format costs per day for no real change.

    python benchmarks/bench_daily_churn.py --people 2000 --days 3
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from abmsync.demo import running_sandbox
from abmsync.rules.loader import load_rules
from abmsync.sandbox.generate import DEFAULT_AS_OF, generate_dataset
from abmsync.sandbox.seed import seed_sandbox
from abmsync.sync.crm import field_specs
from abmsync.sync.engine import SyncOptions, SyncRun
from abmsync.sync.sources import load_sources
from abmsync.sync.store import Store

ROOT = Path(__file__).resolve().parents[1]
FORMATS: dict[str, dict[str, Any]] = {
    "date": {"when": "date"},
    "base": {"when": "date", "points": "base"},
    "age": {"when": "age", "digits": 1},
}


def rules_with(reasons_format: dict[str, Any], directory: Path) -> Path:
    """examples/rules.yaml with another ``writeback.reasons_format``."""
    rules = yaml.safe_load((ROOT / "examples" / "rules.yaml").read_text())
    rules["writeback"]["reasons_format"] = reasons_format
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


def measure(name: str, people: int, days: int, seed: int) -> list[tuple[int, int, int]]:
    """(records planned, people written, API calls) of each later day's dry run."""
    out = []
    with tempfile.TemporaryDirectory() as tmp, running_sandbox() as sandbox:
        directory = Path(tmp)
        loaded = load_rules(rules_with(FORMATS[name], directory))
        seed_sandbox(
            generate_dataset(people, seed=seed, as_of=DEFAULT_AS_OF),
            sandbox.salesforce,
            sandbox.hubspot,
        )
        for system, connector in sandbox.connectors.items():
            for spec in field_specs(loaded.ruleset, system):
                connector.ensure_fields(spec)
        sources = load_sources([ROOT / "examples" / "mappings"], list(sandbox.connectors))
        with Store.open(f"sqlite:///{directory / 'state.db'}") as store:

            def sync(day: int, dry_run: bool) -> Any:
                options = SyncOptions(as_of=DEFAULT_AS_OF + timedelta(days=day), dry_run=dry_run)
                return SyncRun(loaded, sources, sandbox.connectors, store, options=options).run()

            first = sync(0, dry_run=False)
            assert first.status == "succeeded", first.message
            for day in range(1, days + 1):
                plan = sync(day, dry_run=True)
                people_plans = [
                    p for p in plan.plans if not p.links and p.obj != "ABM_Touchpoint__c"
                ]
                out.append(
                    (
                        sum(p.records for p in people_plans),
                        sum(p.plan.changed_fields.get(_reasons(p.obj), 0) for p in people_plans),
                        sum(p.calls for p in people_plans),
                    )
                )
    return out


def _reasons(obj: str) -> str:
    return "abm_score_reasons" if obj == "contacts" else "ABM_Score_Reasons__c"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    results = {name: measure(name, args.people, args.days, args.seed) for name in FORMATS}
    print(f"{args.people:,} people; people records a dry run plans to rewrite, per later day")
    print(f"{'day':>4} {'format':>6} {'records':>9} {'reasons':>9} {'calls':>6}")
    print("     (records: any owned field changed; reasons: the reasons text changed)")
    for day in range(args.days):
        for name in FORMATS:
            records, reasons, calls = results[name][day]
            print(f"{day + 1:>4} {name:>6} {records:>9,} {reasons:>9,} {calls:>6,}")
        age = results["age"][day][0]
        for name in ("date", "base"):
            mine = results[name][day][0]
            ratio = f"{age / mine:.1f}x" if mine else "all (none)"
            print(f"     age rewrites {ratio} as many records as {name}")


if __name__ == "__main__":
    main()
