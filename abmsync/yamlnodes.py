"""YAML for files admins write: composed into nodes, with limits a hostile file cannot pass.

PyYAML's safe loader still accepts documents that hang or crash a reader of
their nodes: aliases that expand a few lines into billions of values
("billion laughs"), nesting deep enough to exhaust Python's recursion limit,
and tags that name Python objects or anything else no abmsync file uses.
:func:`compose` refuses each at its position, before any value is built:

- at most :data:`MAX_ALIASES` alias uses (``*name``) per document;
- at most :data:`MAX_DEPTH` levels of nested mappings and lists;
- at most :data:`MAX_VALUES` values once aliases are expanded;
- only the standard tags of plain data (string, number, boolean, null,
  timestamp, mapping, list), whether implicit or written as ``!!str``.

:func:`build_scalar` turns a scalar node into its value and refuses what
PyYAML would raise for (``2026-02-30``), numbers that are not finite
(``.nan``, ``.inf``, ``1e309``) and integers too long to convert.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

MAX_ALIASES = 100
MAX_DEPTH = 64
MAX_VALUES = 250_000  # nodes once aliases are expanded
_STANDARD = "tag:yaml.org,2002:"
SCALAR_TAGS = frozenset(
    _STANDARD + name for name in ("str", "int", "float", "bool", "null", "timestamp")
)
_TAGS: dict[type[yaml.Node], frozenset[str]] = {
    yaml.ScalarNode: SCALAR_TAGS,
    yaml.MappingNode: frozenset({_STANDARD + "map"}),
    yaml.SequenceNode: frozenset({_STANDARD + "seq"}),
}


class YamlError(Exception):
    """Something in a YAML document abmsync refuses; ``line`` and ``column`` are 1-based."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(line, column, message)
        self.line, self.column, self.message = line, column, message

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


def _at(mark: yaml.Mark | None, message: str) -> YamlError:
    if mark is None:
        return YamlError(1, 1, message)
    return YamlError(mark.line + 1, mark.column + 1, message)


class _LimitedLoader(yaml.SafeLoader):
    """The safe loader's composer with alias, depth and tag limits."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_uses = 0
        self.depth = 0

    def _next_mark(self) -> yaml.Mark | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark: yaml.Mark | None = event.start_mark
        return mark

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.alias_uses += 1
            if self.alias_uses > MAX_ALIASES:
                raise _at(
                    self._next_mark(), f"more than {MAX_ALIASES} alias uses (*name) in one file"
                )
        opens = self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent)
        if opens and self.depth >= MAX_DEPTH:
            raise _at(self._next_mark(), f"nested more than {MAX_DEPTH} levels deep")
        self.depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if node is not None and node.tag not in _TAGS.get(type(node), frozenset()):
            raise _at(
                node.start_mark, f"YAML tag {node.tag!r} is not allowed here (plain data only)"
            )
        return node


def compose(text: str) -> yaml.Node | None:
    """The single document in ``text`` as nodes; ``None`` if it is empty.

    Raises ``YamlError`` for a limit or tag above and for a syntax error.
    """
    loader = _LimitedLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_expansion(root)
        return root
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise _at(mark, f"YAML syntax: {exc.problem or exc.context or 'invalid YAML'}") from None
    except yaml.YAMLError as exc:
        raise YamlError(1, 1, f"YAML syntax: {str(exc).splitlines()[0]}") from None
    finally:
        loader.dispose()


_CONSTRUCTOR = yaml.SafeLoader("")


def build_scalar(node: yaml.Node) -> Any:
    """The value of a scalar node; ``YamlError`` for a bad date or a non-finite number."""
    build = _CONSTRUCTOR.yaml_constructors[node.tag]  # tags were checked by compose
    try:
        value = build(_CONSTRUCTOR, node)
    except (ValueError, OverflowError, yaml.YAMLError) as exc:
        kind = "date" if node.tag == _STANDARD + "timestamp" else "value"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _at(node.start_mark, f"not a valid {kind}: {node.value!r} ({reason})") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _at(node.start_mark, f"{node.value!r} is not a finite number")
    return value


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand it past :data:`MAX_VALUES` nodes.

    Sizes are counted once per distinct node (aliases share their node), so
    this takes time in the size of the text, not of the expansion.
    """
    sizes: dict[int, int] = {}
    reused: list[yaml.Node] = []

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            reused.append(node)
            return known
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(key) + size(value) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        sizes[id(node)] = total
        return total

    if size(root) > MAX_VALUES:
        biggest = max(reused, key=lambda node: sizes[id(node)], default=root)
        raise _at(
            biggest.start_mark,
            f"aliases expand the file to more than {MAX_VALUES:,} values "
            "(an anchored list or mapping used too often)",
        )
