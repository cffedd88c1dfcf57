"""The files connector: people, accounts, touchpoints and opportunities as CSV, Parquet or JSONL.

The format comes from the extension (``.csv``, ``.csv.gz``, ``.parquet``,
``.jsonl``/``.ndjson``, optionally ``.gz``). CSV is read as text throughout so
ids keep their leading zeros; types come from the mapping's transforms or from
the schema. Files are scanned lazily, so a mapping reads only the columns it names.

Two ways in:

- ``read_entity`` / ``write_frame``: plain helpers for the CLI (score a file,
  write the result);
- ``FilesConnector``: the ``Connector`` Protocol over a directory, so a folder
  of exports can stand in for a CRM in a sync run. Its cursor remembers each
  file's fingerprint, so an unchanged file is not read twice.

Every problem with an input or output file is a ``FilesError`` whose message
is one line naming the file (and the row, where it is known).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import polars as pl
from polars.exceptions import PanicException

from abmsync.connectors.base import (
    Batch,
    CheckItem,
    CheckReport,
    Cursor,
    FieldMeta,
    FieldSpec,
    FieldType,
    ObjectMeta,
    Patch,
    PatchValue,
    WriteResult,
    validate_patch,
)
from abmsync.connectors.mapping import (
    BadValueError,
    InputError,
    Mapping,
    check_transformed,
    coerce_to_schema,
    mapping_exprs,
    source_exprs,
)
from abmsync.connectors.transforms import json_text
from abmsync.errors import ConfigError
from abmsync.schema import FRAME_COLUMNS, REQUIRED_COLUMNS

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson.gz": "jsonl",
}
FINGERPRINT_BYTES = 1 << 20


class FilesError(ConfigError):
    """An input or output file is missing, unreadable, malformed or of an unknown format."""


def file_format(path: Path) -> str:
    """``csv``, ``parquet`` or ``jsonl`` from the extension of ``path``."""
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix not in FORMATS:
        suffix = path.suffix.lower()
    if suffix not in FORMATS:
        problem = f"unsupported format {suffix!r}" if suffix else "no file extension"
        raise FilesError(f"{path}: {problem} (use .csv, .parquet or .jsonl)")
    return FORMATS[suffix]


def scan_file(path: Path) -> pl.LazyFrame:
    """A lazy frame over one file; CSV columns are all text."""
    kind = file_format(path)
    if not path.is_file():
        raise FilesError(f"{path}: no such file")
    with _read_errors(path):
        if kind == "csv":
            # CSV cannot tell an empty value from a missing one; both are null here.
            text = pl.scan_csv(path, infer_schema=False)
            return text.with_columns(pl.when(pl.all().str.len_bytes() > 0).then(pl.all()))
        if kind == "parquet":
            return pl.scan_parquet(path)
        return pl.scan_ndjson(path, infer_schema_length=None)


def read_records(path: Path) -> pl.DataFrame:
    """Every record of one file with its own column names (no mapping, no typing)."""
    with _read_errors(path):
        return scan_file(path).collect()


def read_entity(path: Path, entity: str, mapping: Mapping | None = None) -> pl.DataFrame:
    """Read ``path`` as ``entity`` (people, accounts, touchpoints, opportunities).

    With a mapping the file holds vendor fields and the mapping turns them into
    schema columns; without one its columns are already schema names and are
    parsed to the schema's types. Raises ``FilesError`` (file, row, value) or
    ``MappingError`` (mapping file, line, column).
    """
    path = Path(path)
    if entity not in FRAME_COLUMNS:
        raise FilesError(f"{path}: unknown entity {entity!r} (use {', '.join(FRAME_COLUMNS)})")
    if mapping is not None and mapping.entity != entity:
        named = f" {mapping.origin}" if mapping.origin else ""
        raise FilesError(f"{path}: the mapping{named} makes {mapping.entity}, not {entity}")
    frame = scan_file(path)
    with _read_errors(path):
        schema = frame.collect_schema()
        if mapping is not None:
            mapped = mapping_exprs(mapping, schema, source=str(path))
            frame = frame.select([*mapped, *source_exprs(mapping, schema)])
        else:
            for column in REQUIRED_COLUMNS[entity]:
                if column not in schema:
                    raise FilesError(f"{path}: missing required column {column!r}")
        collected = frame.collect()
    if mapping is not None:
        collected = check_transformed(mapping, collected, source=str(path))
    try:
        typed = coerce_to_schema(collected, entity)
    except BadValueError as exc:
        rule = mapping.fields.get(exc.column) if mapping is not None else None
        origin = f" (from {rule.field!r})" if rule is not None and rule.field else ""
        raise FilesError(
            f"{path}: row {exc.row + 1}: column {exc.column!r}{origin}: "
            f"{exc.value!r} is not {exc.expected}"
        ) from None
    except InputError as exc:
        raise FilesError(f"{path}: {exc}") from None
    if entity in UNIQUE_ID_ENTITIES:
        _reject_duplicate_ids(typed, path)
    return typed


# Entities whose ``id`` is the record's key: two rows with one id are one record twice.
UNIQUE_ID_ENTITIES = ("people", "accounts")


def _reject_duplicate_ids(frame: pl.DataFrame, path: Path) -> None:
    repeated = frame.select(pl.arg_where(pl.col("id").is_duplicated()))["id"]
    if repeated.len() == 0:
        return
    first = int(repeated[0])
    value = frame["id"][first]
    again = next(int(r) for r in repeated if r != first and frame["id"][int(r)] == value)
    raise FilesError(f"{path}: row {again + 1}: duplicate id {value!r} (also on row {first + 1})")


def write_frame(
    frame: pl.DataFrame, path: Path, *, before_replace: Callable[[], None] | None = None
) -> None:
    """Write ``frame`` to ``path`` in the format of its extension, atomically.

    CSV cannot hold nested values, so lists and structs become JSON text; JSONL
    keeps them nested. Binary values become hex in both. Parent directories
    are created. The file is replaced only once the new one is complete, and
    after ``before_replace`` (e.g. recording a ledger) returned: if it raises,
    the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    kind = file_format(path)
    try:
        prepared = frame if kind == "parquet" else _text_safe(frame, nested_as_json=kind == "csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        # A sibling temporary file (created with the umask's permissions, unlike
        # mkstemp's 0600) replaces the target in one rename.
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            _write(prepared, temp, kind, gzipped=path.suffix.lower() == ".gz")
            if before_replace is not None:
                before_replace()
            os.replace(temp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
    except (OSError, pl.exceptions.PolarsError, PanicException) as exc:
        raise FilesError(f"{path}: cannot write: {_first_line(exc)}") from None


def fingerprint(path: Path) -> str:
    """Size, modification time and a hash of the first MiB: changes when the file does."""
    try:
        stat = path.stat()
        with path.open("rb") as handle:
            head = hashlib.sha256(handle.read(FINGERPRINT_BYTES)).hexdigest()[:16]
    except OSError as exc:
        raise FilesError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return f"{stat.st_size}:{stat.st_mtime_ns}:{head}"


class FilesConnector:
    """A directory of exports behind the ``Connector`` Protocol.

    An object name is a glob relative to ``root`` (``leads/*.csv``), a file or
    directory name, or a bare name that matches ``<name>.<ext>``; ``objects``
    can alias names to globs (``{"Lead": "exports/leads-*.csv"}``). Records
    keep the file's column names; the engine maps them. ``write`` upserts by
    ``id_column`` (or an external id column) and rewrites the object's file.
    """

    name: str = "files"

    def __init__(
        self,
        root: Path,
        objects: dict[str, str] | None = None,
        *,
        id_column: str = "id",
        new_file_suffix: str = ".csv",
    ) -> None:
        self.root = Path(root)
        self.objects = dict(objects or {})
        self.id_column = id_column
        self.new_file_suffix = new_file_suffix

    def files(self, obj: str) -> list[Path]:
        """The files that hold ``obj``, sorted by path."""
        pattern = self.objects.get(obj, obj)
        target = self.root / pattern
        if any(ch in pattern for ch in "*?["):
            found = list(self.root.glob(pattern))
        elif target.is_file():
            found = [target]
        elif target.is_dir():
            found = list(target.iterdir())
        else:
            found = list(self.root.glob(f"{pattern}.*"))
        return sorted(p for p in found if p.is_file() and _supported(p))

    def close(self) -> None:
        """Nothing to close: files are opened and closed per read and write."""

    def check(self) -> CheckReport:
        """Whether the directory exists and is readable and writable, and what each object holds."""
        items = [
            CheckItem(name="directory", ok=self.root.is_dir(), detail=str(self.root)),
            CheckItem(name="read access", ok=os.access(self.root, os.R_OK | os.X_OK), detail=""),
            CheckItem(name="write access", ok=os.access(self.root, os.W_OK), detail=""),
        ]
        for obj in self.objects:
            found = self.files(obj)
            items.append(CheckItem(name=obj, ok=bool(found), detail=f"{len(found)} file(s)"))
        return CheckReport(connector=self.name, items=items)

    def describe(self, obj: str) -> ObjectMeta:
        """Columns of ``obj``'s files (CSV columns are untyped text) as writable fields."""
        found = self.files(obj)
        if not found:
            raise FilesError(f"{self.root / self.objects.get(obj, obj)}: no files for {obj!r}")
        fields: dict[str, FieldMeta] = {}
        for path in found:
            with _read_errors(path):
                schema = scan_file(path).collect_schema()
            untyped = file_format(path) == "csv"
            for column, dtype in schema.items():
                kind = FieldType.OTHER if untyped else _field_type(dtype)
                fields.setdefault(column, self._field(column, kind))
        return ObjectMeta(name=obj, label=obj, fields=fields)

    def read_changes(self, obj: str, cursor: Cursor | None) -> Iterator[Batch]:
        """One batch per new or changed file; files whose fingerprint is in ``cursor`` are skipped.

        Each batch carries a cursor covering that file and every earlier one.
        """
        seen = _cursor_files(cursor)
        for path in self.files(obj):
            key = path.relative_to(self.root).as_posix()
            mark = fingerprint(path)
            if seen.get(key) == mark:
                continue
            records = read_records(path)
            seen = {**seen, key: mark}
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            state = Cursor(
                value=json.dumps({"files": seen}, sort_keys=True),
                observed_at=modified,
                records=records.height,
            )
            yield Batch(obj=obj, records=records, cursor=state)

    def write(self, obj: str, patches: Sequence[Patch]) -> list[WriteResult]:
        """Upsert ``patches`` into ``obj``'s file (created if absent); one result per patch."""
        if not patches:
            return []
        target = self._output_file(obj)
        frame = read_records(target) if target.exists() else pl.DataFrame()
        typed = file_format(target) != "csv"
        meta = self._meta_for(obj, frame, patches, typed)
        results: list[WriteResult | None] = [validate_patch(meta, p) for p in patches]
        frame = _apply_patches(frame, patches, results, self.id_column, typed)
        write_frame(frame, target)
        return [r if r is not None else WriteResult(ok=False) for r in results]

    def ensure_fields(self, spec: FieldSpec) -> list[str]:
        """Nothing to create: a file gains a column when a patch first writes it."""
        return []

    def _field(self, column: str, kind: FieldType, *, key: bool = False) -> FieldMeta:
        is_key = key or column == self.id_column
        return FieldMeta(name=column, label=column, type=kind, external_id=is_key)

    def _output_file(self, obj: str) -> Path:
        found = self.files(obj)
        if len(found) > 1:
            names = ", ".join(p.name for p in found[:3])
            raise FilesError(f"{self.root}: {obj!r} matches several files ({names}); name one")
        if found:
            return found[0]
        name = self.objects.get(obj, obj)
        return self.root / (name if _supported(Path(name)) else f"{name}{self.new_file_suffix}")

    def _meta_for(
        self, obj: str, frame: pl.DataFrame, patches: Sequence[Patch], typed: bool
    ) -> ObjectMeta:
        """The file's columns plus any a patch introduces; any column can be an upsert key."""
        fields = {
            column: self._field(column, _field_type(dtype) if typed else FieldType.OTHER, key=True)
            for column, dtype in frame.schema.items()
        }
        for patch in patches:
            keys = [*patch.values, *([patch.external_id[0]] if patch.external_id else [])]
            for column in keys:
                fields.setdefault(column, self._field(column, FieldType.OTHER, key=True))
        return ObjectMeta(name=obj, fields=fields)


def _apply_patches(
    frame: pl.DataFrame,
    patches: Sequence[Patch],
    results: list[WriteResult | None],
    id_column: str,
    typed: bool,
) -> pl.DataFrame:
    """Apply the patches that passed validation (``results[i] is None``); fill ``results``.

    A patch with ``record_id`` updates that row (``NOT_FOUND`` if there is none);
    one with ``external_id`` updates the rows with that key or adds a row; one
    with neither adds a row. New rows get a random id unless the patch sets one.
    """
    updates: dict[tuple[str, tuple[str, ...]], list[dict[str, PatchValue]]] = {}
    inserts: dict[tuple[str, str], dict[str, PatchValue]] = {}
    known: dict[str, set[str]] = {}
    for index, patch in enumerate(patches):
        if results[index] is not None:
            continue
        if patch.external_id is None and patch.record_id is None:
            row = dict(patch.values)
            new_id = str(row.setdefault(id_column, uuid.uuid4().hex))
            inserts[("", str(index))] = row
            results[index] = WriteResult(record_id=new_id, ok=True, created=True)
            continue
        if patch.external_id is not None and patch.record_id is None:
            key, value = patch.external_id
        else:
            key, value = id_column, patch.record_id or ""
        if key not in known:
            known[key] = _values_of(frame, key)
        if value in known[key]:
            row = {**patch.values, key: value}
            updates.setdefault((key, tuple(sorted(row))), []).append(row)
            record_id = value if key == id_column else None
            results[index] = WriteResult(record_id=record_id, ok=True)
        elif patch.record_id is not None:
            message = f"no record with {id_column} {patch.record_id!r}"
            results[index] = _not_found(patch.record_id, message)
        else:
            row = inserts.setdefault((key, value), {key: value})
            row.update(patch.values)
            new_id = str(row.setdefault(id_column, uuid.uuid4().hex))
            results[index] = WriteResult(record_id=new_id, ok=True, created=True)
    for (key, columns), rows in updates.items():
        changes = _frame_like(frame, rows, list(columns), typed)
        changes = changes.unique(key, keep="last", maintain_order=True)
        frame = _ensure_columns(frame, changes, typed)
        frame = frame.update(changes, on=key, how="left", include_nulls=True)
    if inserts:
        rows = list(inserts.values())
        added = _frame_like(frame, rows, sorted({c for row in rows for c in row}), typed)
        frame = pl.concat([_ensure_columns(frame, added, typed), added], how="diagonal_relaxed")
    return frame


def _values_of(frame: pl.DataFrame, column: str) -> set[str]:
    """The distinct values of ``column`` as text (empty if the frame lacks it)."""
    if column not in frame.columns:
        return set()
    return {str(v) for v in frame[column].drop_nulls().unique().cast(pl.String).to_list()}


def _not_found(record_id: str, message: str) -> WriteResult:
    return WriteResult(record_id=record_id, ok=False, error_code="NOT_FOUND", message=message)


def _frame_like(
    frame: pl.DataFrame, rows: list[dict[str, PatchValue]], columns: list[str], typed: bool
) -> pl.DataFrame:
    """Rows as a frame whose columns have ``frame``'s types (text for CSV)."""
    data = {c: [row.get(c) for row in rows] for c in dict.fromkeys(columns)}
    if not typed:
        text = {c: [None if v is None else _as_text(v) for v in vs] for c, vs in data.items()}
        return pl.DataFrame(text, schema=dict.fromkeys(text, pl.String()))
    built = pl.DataFrame(data, strict=False)
    casts = [
        pl.col(c).cast(frame.schema[c], strict=False)
        for c in built.columns
        if c in frame.schema and frame.schema[c] != built.schema[c]
    ]
    return built.with_columns(casts) if casts else built


def _ensure_columns(frame: pl.DataFrame, other: pl.DataFrame, typed: bool) -> pl.DataFrame:
    """``frame`` with null columns for those only ``other`` has."""
    if frame.width == 0:
        return other.clear()
    missing = [c for c in other.columns if c not in frame.columns]
    if not missing:
        return frame
    return frame.with_columns(
        pl.lit(None, dtype=other.schema[c] if typed else pl.String()).alias(c) for c in missing
    )


def _as_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field_type(dtype: pl.DataType) -> FieldType:
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return FieldType.STRING
    if dtype == pl.Boolean:
        return FieldType.BOOLEAN
    if dtype.is_integer():
        return FieldType.INTEGER
    if dtype.is_numeric():
        return FieldType.NUMBER
    if isinstance(dtype, pl.Datetime):
        return FieldType.DATETIME
    if dtype == pl.Date:
        return FieldType.DATE
    return FieldType.OTHER


def _cursor_files(cursor: Cursor | None) -> dict[str, str]:
    if cursor is None:
        return {}
    try:
        files = json.loads(cursor.value)["files"]
    except (ValueError, KeyError, TypeError):
        raise FilesError(f"not a files cursor: {cursor.value[:60]!r}") from None
    if not isinstance(files, dict):
        raise FilesError(f"not a files cursor: {cursor.value[:60]!r}")
    return {str(k): str(v) for k, v in files.items()}


def _supported(path: Path) -> bool:
    try:
        file_format(path)
    except FilesError:
        return False
    return True


def _text_safe(frame: pl.DataFrame, *, nested_as_json: bool) -> pl.DataFrame:
    """Columns a text format can hold: binary as hex, objects as text, nested as JSON for CSV."""
    fixes: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if dtype == pl.Binary:
            fixes.append(column.bin.encode("hex"))
        elif dtype == pl.Object:
            fixes.append(column.map_elements(str, return_dtype=pl.String))
        elif nested_as_json and (dtype.is_nested() or isinstance(dtype, pl.Duration)):
            fixes.append(json_text(column).alias(name))
    return frame.with_columns(fixes) if fixes else frame


def _write(frame: pl.DataFrame, path: Path, kind: str, *, gzipped: bool) -> None:
    if kind == "parquet":
        frame.write_parquet(path)
        return
    compression: Literal["gzip", "uncompressed"] = "gzip" if gzipped else "uncompressed"
    if kind == "csv":
        frame.write_csv(path, compression=compression, check_extension=False)
    else:
        frame.write_ndjson(path, compression=compression, check_extension=False)


@contextlib.contextmanager
def _read_errors(path: Path) -> Iterator[None]:
    """Turn what polars or the OS says about a bad input file into one ``FilesError`` line."""
    try:
        yield
    except FileNotFoundError:
        raise FilesError(f"{path}: no such file") from None
    except PermissionError:
        raise FilesError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise FilesError(f"{path}: is a directory, not a file") from None
    except pl.exceptions.NoDataError:
        raise FilesError(f"{path}: file is empty") from None
    except (OSError, pl.exceptions.PolarsError, PanicException) as exc:
        raise FilesError(f"{path}: cannot read: {_explain(path, exc)}") from None


def _explain(path: Path, exc: BaseException) -> str:
    """The first line of a read error, with the bad line of a JSONL file when it is known."""
    message = _first_line(exc)
    if "utf-8" in message.lower():
        return "not UTF-8 text (re-export it as UTF-8)"
    if file_format(path) == "jsonl":
        line = _bad_json_line(path)
        if line is not None:
            return f"line {line[0]}: invalid JSON ({line[1]})"
    return message


def _bad_json_line(path: Path) -> tuple[int, str] | None:
    """The first line of a JSONL file that is not a JSON object, if any."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError as exc:
                    return number, str(exc).split(":")[0]
                if not isinstance(value, dict):
                    return number, "not an object"
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
