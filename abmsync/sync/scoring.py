"""One scoring job over files: read, score, write the results, record the ledger.

This is the service behind ``abmsync score``: the CLI parses options and
renders; everything that touches files and the state database happens here,
around the pure scoring core in :mod:`abmsync.rules.scoring`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from abmsync.connectors.files import FilesError, file_format, read_entity, scan_file, write_frame
from abmsync.connectors.mapping import Mapping, load_mapping
from abmsync.errors import ConfigError
from abmsync.rules.compiled import compile_rules
from abmsync.rules.loader import LoadedRules
from abmsync.rules.scoring import ScoreResult, score
from abmsync.schema import REQUIRED_COLUMNS

FORMATS = (".parquet", ".csv", ".jsonl", ".ndjson", ".csv.gz")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Inputs:
    """Where the data to score lives."""

    people: Path
    touchpoints: Path | None = None
    accounts: Path | None = None
    mappings: tuple[Path, ...] = ()  # YAML field mappings, each naming its entity

    def read(self, entity: str, path: Path) -> pl.DataFrame:
        """Read one input file, through its mapping when one was given for ``entity``."""
        return read_entity(path, entity, self.mapping_for(entity))

    def mapping_for(self, entity: str) -> Mapping | None:
        found = [m for m in (load_mapping(p) for p in self.mappings) if m.entity == entity]
        if len(found) > 1:
            raise ConfigError(f"more than one --mapping is for {entity}")
        return found[0] if found else None

    @classmethod
    def from_directory(cls, directory: Path) -> Inputs:
        """Find ``people.*``, ``touchpoints.*`` and ``accounts.*`` in ``directory``."""
        people = find_input(directory, "people")
        if people is None:
            raise ConfigError(
                f"{directory}: no people.parquet, people.csv or people.jsonl found "
                "(generate one with `abmsync sandbox generate`)"
            )
        return cls(people, find_input(directory, "touchpoints"), find_input(directory, "accounts"))


def find_input(directory: Path, stem: str) -> Path | None:
    """``directory/stem`` with the first supported extension that exists."""
    for suffix in FORMATS:
        candidate = directory / f"{stem}{suffix}"
        if candidate.exists():
            return candidate
    return None


@dataclass(frozen=True)
class ScoringSummary:
    """What a scoring job did, for the CLI's table and ``--json``."""

    rules_version: str
    as_of: datetime
    people: int
    touchpoints: int
    accounts: int
    grades: dict[str, int]
    priorities: dict[str, int]
    stages: dict[str, int]
    mqa_accounts: int
    ledger_rows: int | None
    output: Path | None
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "rules_version": self.rules_version,
            "as_of": self.as_of.isoformat(),
            "people": self.people,
            "touchpoints": self.touchpoints,
            "accounts": self.accounts,
            "grades": self.grades,
            "priorities": self.priorities,
            "stages": self.stages,
            "mqa_accounts": self.mqa_accounts,
            "ledger_rows": self.ledger_rows,
            "output": str(self.output) if self.output else None,
            "seconds": round(self.seconds, 3),
            "warnings": self.warnings,
        }


def score_files(
    loaded: LoadedRules,
    inputs: Inputs,
    *,
    as_of: datetime | None = None,
    out: Path | None = None,
    database_url: str | None = None,
    namespace: str | None = None,
    progress: Progress | None = None,
) -> tuple[ScoreResult, ScoringSummary]:
    """Score the people in ``inputs`` and write/record the results.

    Nothing is written unless the whole job succeeds: the output file goes to
    a temporary name first, the ledger is recorded in one transaction, and
    only then is the file renamed into place. A failed run leaves neither a
    (partial) output file nor ledger rows behind. ``namespace`` is a tenant's.
    """
    step = progress or (lambda _: None)
    started = time.perf_counter()
    as_of = as_of or datetime.now(UTC)
    if out is not None:
        file_format(out)  # an unsupported extension fails before any work
    step("reading data")
    people = inputs.read("people", inputs.people)
    touchpoints = load_touchpoints(inputs) if inputs.touchpoints else None
    accounts = inputs.read("accounts", inputs.accounts) if inputs.accounts else None
    step("scoring")
    try:
        result = score(compile_rules(loaded, as_of), people, touchpoints, accounts)
    except pl.exceptions.PolarsError as exc:
        # Lazily scanned files are read only now; name them rather than show a traceback.
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FilesError(f"cannot score {inputs.people.parent}: {detail}") from exc
    public = result.public_people()
    recorded: list[int] = []

    def record() -> None:
        if database_url is not None:
            step("recording the score ledger")
            recorded.append(_record_ledger(public, database_url, namespace, result))

    if out is not None:
        step(f"writing {out.name}")
        write_frame(public, out, before_replace=record)
    else:
        record()
    ledger_rows = recorded[0] if recorded else None
    summary = ScoringSummary(
        rules_version=result.rules.version,
        as_of=result.as_of,
        people=public.height,
        touchpoints=_count(touchpoints),
        accounts=result.accounts.height,
        grades=_counts(public, "grade"),
        priorities=_counts(public, "priority"),
        stages=_counts(public, "stage"),
        mqa_accounts=int(result.accounts["mqa"].sum()) if result.accounts.height else 0,
        ledger_rows=ledger_rows,
        output=out,
        seconds=time.perf_counter() - started,
        warnings=result.warnings,
    )
    return result, summary


def load_touchpoints(inputs: Inputs) -> pl.DataFrame | pl.LazyFrame:
    """Touchpoints to score: Parquet in schema columns is scanned lazily, so only
    the columns the rules read are loaded (a fraction of the file's memory);
    other files are read, mapped and type-checked up front, where a bad value
    can be named by row."""
    path = inputs.touchpoints
    assert path is not None
    if file_format(path) != "parquet" or inputs.mapping_for("touchpoints") is not None:
        return inputs.read("touchpoints", path)
    lazy = scan_file(path)
    schema = lazy.collect_schema()
    missing = [c for c in REQUIRED_COLUMNS["touchpoints"] if c not in schema]
    if missing:
        raise FilesError(f"{path}: missing required column(s) {', '.join(missing)}")
    occurred = schema["occurred_at"]
    if not isinstance(occurred, pl.Datetime) and occurred != pl.String():
        raise FilesError(f"{path}: column 'occurred_at' is {occurred}, not a timestamp")
    return lazy


def _count(frame: pl.DataFrame | pl.LazyFrame | None) -> int:
    if frame is None:
        return 0
    if isinstance(frame, pl.DataFrame):
        return frame.height
    return int(frame.select(pl.len()).collect().item())


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    counted = frame.group_by(column).len().sort(column, nulls_last=True)
    return {str(key): int(n) for key, n in counted.iter_rows()}


def _record_ledger(
    public: pl.DataFrame, database_url: str, namespace: str | None, result: ScoreResult
) -> int:
    from abmsync.sync.store import Store

    ledger = public.select(
        "person_id", "fit", "engagement", "total", "grade", "band", "priority", "reasons"
    )
    with Store.open(database_url, namespace=namespace) as store, store.transaction() as tx:
        store.save_person_emails(result.people, now=result.as_of, tx=tx)
        return store.record_scores(
            ledger, rules_version=result.rules.version, as_of=result.as_of, tx=tx
        )
