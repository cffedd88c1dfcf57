"""Read a rules file into a :class:`RuleSet`, remembering where every value came from.

YAML is composed into nodes (so each key and value keeps its line and column),
turned into plain data, and validated by the pydantic models. Problems come
back as :class:`Diagnostic` values that print as ``file:line:column: message``,
the format editors and CI annotate. Semantic checks (conditions, stage names,
thresholds) live in :mod:`abmsync.rules.validate` and use the same positions.
"""

from __future__ import annotations

import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from abmsync.errors import ConfigError
from abmsync.rules.expr import suggest
from abmsync.rules.model import RuleSet
from abmsync.yamlnodes import YamlError, build_scalar, compose

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a rules file."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class RulesError(ConfigError):
    """A rules file has problems; ``diagnostics`` lists every one."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))


@dataclass(frozen=True)
class ValueSpot:
    """Where a value starts, and how it is quoted (for offsets inside it)."""

    line: int
    column: int
    style: str | None
    multiline: bool


@dataclass
class SourceMap:
    """Positions of keys and values in a rules file, by their path."""

    file: str
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    values: dict[PathKey, ValueSpot] = field(default_factory=dict)

    def at(self, path: PathKey, message: str, *, key: bool = False) -> Diagnostic:
        """A diagnostic at ``path`` (its key when ``key``), else the nearest parent."""
        table: dict[PathKey, Any] = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            spot = table.get(path[:end]) or self.values.get(path[:end])
            if spot is not None:
                line, column = (spot.line, spot.column) if isinstance(spot, ValueSpot) else spot
                return Diagnostic(self.file, line, column, message)
        return Diagnostic(self.file, 1, 1, message)

    def inside(self, path: PathKey, offset: int, message: str) -> Diagnostic:
        """A diagnostic ``offset`` characters into the text value at ``path``."""
        spot = self.values.get(path)
        if spot is None:
            return self.at(path, message)
        if spot.multiline:
            return Diagnostic(self.file, spot.line, spot.column, message)
        quote = 1 if spot.style in ("'", '"') else 0
        return Diagnostic(self.file, spot.line, spot.column + quote + offset, message)


@dataclass(frozen=True)
class LoadedRules:
    """A parsed rules file with its version and source positions."""

    ruleset: RuleSet
    path: Path
    version: str
    source: SourceMap


def rules_version(ruleset: RuleSet) -> str:
    """Content hash of everything that affects results (tests excluded).

    Comments, key order and the ``tests:`` block do not change it, so a
    version changes only when scoring, lifecycle or routing could.
    """
    content = ruleset.model_dump(mode="json", by_alias=True, exclude={"tests"})
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return digest[:12]


def parse_rules(text: str, file: str) -> tuple[RuleSet | None, SourceMap, list[Diagnostic]]:
    """Parse ``text`` into a RuleSet, returning diagnostics instead of raising."""
    source = SourceMap(file)
    try:
        node = compose(text)
        if node is None:
            return None, source, [Diagnostic(file, 1, 1, "the rules file is empty")]
        problems: list[Diagnostic] = []
        data = _to_data(node, (), source, problems)
    except YamlError as exc:
        return None, source, [Diagnostic(file, exc.line, exc.column, exc.message)]
    if problems:
        return None, source, problems
    if not isinstance(data, dict):
        return None, source, [source.at((), "a rules file is a mapping (key: value) at the top")]
    try:
        return RuleSet.model_validate(data), source, []
    except ValidationError as exc:
        found = [_diagnostic(error, source) for error in exc.errors()]
        return None, source, sorted(found, key=lambda d: (d.line, d.column))


def load_rules(path: str | Path) -> LoadedRules:
    """Load and fully validate a rules file; raise :class:`RulesError` on any problem."""
    from abmsync.rules.validate import check_ruleset

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RulesError(
            [Diagnostic(str(path), 1, 1, f"cannot read rules file: {reason}")]
        ) from exc
    ruleset, source, problems = parse_rules(text, str(path))
    if ruleset is not None:
        problems = check_ruleset(ruleset, source)
    if problems or ruleset is None:
        raise RulesError(problems)
    return LoadedRules(ruleset, path, rules_version(ruleset), source)


def _to_data(
    node: yaml.Node,
    path: PathKey,
    source: SourceMap,
    problems: list[Diagnostic],
) -> Any:
    source.values[path] = ValueSpot(
        node.start_mark.line + 1,
        node.start_mark.column + 1,
        getattr(node, "style", None),
        node.start_mark.line != node.end_mark.line,
    )
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = build_scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int | float | bool) or key is None:
                problems.append(source.at(path, "keys must be plain names"))
                continue
            key_path = (*path, key if isinstance(key, str | int) else str(key))
            source.keys[key_path] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in result:
                problems.append(source.at(key_path, f"duplicate key '{key}'", key=True))
                continue
            result[key] = _to_data(value_node, key_path, source, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_data(child, (*path, index), source, problems)
            for index, child in enumerate(node.value)
        ]
    return build_scalar(node)


def _diagnostic(error: Any, source: SourceMap) -> Diagnostic:
    loc: PathKey = tuple(error["loc"])
    path = _data_path(loc, source)
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(loc[-1])
        allowed = _allowed_fields(path[:-1])
        return source.at(path, f"unknown field '{name}'{suggest(name, allowed)}", key=True)
    if kind == "missing":
        return source.at(path[:-1], f"missing required field '{loc[-1]}'")
    message = str(error["msg"]).removeprefix("Value error, ")
    where = ".".join(str(p) for p in path) or "file"
    return source.at(path, f"{where}: {message}")


def _data_path(loc: PathKey, source: SourceMap) -> PathKey:
    """Drop pydantic's union tags from ``loc`` so it names a place in the file."""
    path: list[str | int] = []
    for part in loc:
        candidate = (*path, part)
        if candidate in source.values or candidate in source.keys or part == loc[-1]:
            path.append(part)
    return tuple(path)


def _allowed_fields(path: PathKey) -> list[str]:
    """Field names of the model that sits at ``path`` in the rules file."""
    annotation: Any = RuleSet
    for part in path:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    models = [
        m for m in _candidates(annotation) if isinstance(m, type) and issubclass(m, BaseModel)
    ]
    names: list[str] = []
    for model in models:
        for name, info in model.model_fields.items():
            names.append(info.alias or name)
    return names


def _candidates(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return [c for arg in typing.get_args(annotation) for c in _candidates(arg)]
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any:
    for candidate in _candidates(annotation):
        origin = typing.get_origin(candidate)
        if isinstance(part, int) and origin is list:
            return typing.get_args(candidate)[0]
        if origin is dict:
            return typing.get_args(candidate)[1]
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            for name, info in candidate.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation
    return None
