"""Field paths resolved to SQL: relationship traversal as LEFT JOINs.

``Account.Owner.Email`` on Contact walks ``AccountId`` then ``OwnerId`` by their
``relationshipName`` and reads ``Email`` of the joined row; at most five
relationships deep ("Relationship Query Limitations",
https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_relationships_query_limits.htm).
A polymorphic relationship (``Owner``, ``Who``, ``What``) joins each object it
may point to; its fields are those of the ``Name`` object (a field any target
has, and ``Type``), and it cannot be traversed further.
"""

from __future__ import annotations

from dataclasses import dataclass

from abmsync.sandbox.salesforce.schema import FieldDef, ObjectDef
from abmsync.sandbox.salesforce.soql.errors import SoqlError, located
from abmsync.sandbox.salesforce.soql.syntax import Path
from abmsync.sandbox.salesforce.store import Store

MAX_DEPTH = 5
_TYPE_FIELD = FieldDef("Type", "picklist", 255, updateable=False, createable=False)


def quote(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Hop:
    """One relationship on a path: its name, the parent's Id and type as SQL."""

    key: str
    id_sql: str
    type_sql: str
    polymorphic: bool


@dataclass(frozen=True)
class Column:
    """A resolved field path: its SQL, definition and the relationships it crosses."""

    sql: str
    spec: FieldDef
    hops: tuple[Hop, ...]
    owner: ObjectDef  # the object the field belongs to (the first target if polymorphic)

    @property
    def keys(self) -> tuple[str, ...]:
        """Canonical names along the path: relationship names, then the field name."""
        return (*(h.key for h in self.hops), self.spec.name)

    @property
    def label(self) -> str:
        return ".".join(self.keys)


class Scope:
    """The tables of one SELECT: its object as ``alias`` plus the joins its paths need."""

    def __init__(
        self, store: Store, obj: ObjectDef, alias: str, soql: str, user_alias: str | None
    ) -> None:
        self.store = store
        self.obj = obj
        self.alias = alias
        self.soql = soql
        self.user_alias = user_alias
        self.joins: list[str] = []
        self._hops: dict[tuple[str, ...], tuple[Hop, list[tuple[str, ObjectDef]]]] = {}
        store.ensure_table(obj)

    def column(self, path: Path) -> Column:
        """Resolve ``path``; raise ``INVALID_FIELD`` for an unknown field or relationship."""
        parts = list(path.parts)
        if len(parts) > 1 and self._is_own_name(parts[0]):
            parts = parts[1:]
        if len(parts) - 1 > MAX_DEPTH:
            raise located(
                self.soql,
                path.pos,
                "SOQL statements cannot query relationships more than 5 levels away",
            )
        tables: list[tuple[str, ObjectDef]] = [(self.alias, self.obj)]
        hops: list[Hop] = []
        for depth, name in enumerate(parts[:-1]):
            if hops and hops[-1].polymorphic:
                raise self._bad_relationship(path, name)
            hop, tables = self._hop(
                tuple(p.lower() for p in parts[: depth + 1]), tables, name, path
            )
            hops.append(hop)
        field_name = parts[-1]
        found = [(alias, obj, obj.field(field_name)) for alias, obj in tables]
        present = [(alias, obj, spec) for alias, obj, spec in found if spec is not None]
        if hops and hops[-1].polymorphic and field_name.lower() == "type":
            return Column(hops[-1].type_sql, _TYPE_FIELD, tuple(hops), tables[0][1])
        if not present:
            raise located(
                self.soql,
                path.pos,
                f"No such column '{field_name}' on entity '{tables[0][1].name}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' after the "
                "custom field name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
                "INVALID_FIELD",
            )
        _, owner, spec = present[0]
        assert spec is not None
        sqls = [f"{alias}.{quote(spec.name)}" for alias, _, spec in present if spec is not None]
        sql = sqls[0] if len(sqls) == 1 else f"COALESCE({', '.join(sqls)})"
        return Column(sql, spec, tuple(hops), owner)

    def _is_own_name(self, first: str) -> bool:
        """``Contact.FirstName`` FROM Contact, or ``c.FirstName`` FROM Contact c."""
        if self.user_alias and first.lower() == self.user_alias.lower():
            return True
        return first.lower() == self.obj.name.lower() and self.obj.relationship(first) is None

    def _hop(
        self,
        key: tuple[str, ...],
        tables: list[tuple[str, ObjectDef]],
        name: str,
        path: Path,
    ) -> tuple[Hop, list[tuple[str, ObjectDef]]]:
        if key in self._hops:
            return self._hops[key]
        alias, obj = tables[0]
        spec = obj.relationship(name)
        if spec is None:
            raise self._bad_relationship(path, name)
        targets = [t for t in (self.store.get_object(n) for n in spec.reference_to) if t]
        joined: list[tuple[str, ObjectDef]] = []
        for target in targets:
            self.store.ensure_table(target)
            join_alias = f"{self.alias}_j{len(self.joins)}"
            self.joins.append(
                f"LEFT JOIN {quote(target.name)} AS {join_alias} "
                f'ON {join_alias}."Id" = {alias}.{quote(spec.name)}'
            )
            joined.append((join_alias, target))
        ids = [f'{a}."Id"' for a, _ in joined]
        id_sql = ids[0] if len(ids) == 1 else f"COALESCE({', '.join(ids)})"
        cases = " ".join(f"WHEN {a}.\"Id\" IS NOT NULL THEN '{t.name}'" for a, t in joined)
        type_sql = f"CASE {cases} END"
        relation = spec.relationship_name or name
        hop = Hop(relation, id_sql, type_sql, spec.polymorphic)
        self._hops[key] = (hop, joined)
        return hop, joined

    def _bad_relationship(self, path: Path, name: str) -> SoqlError:
        return located(
            self.soql,
            path.pos,
            f"Didn't understand relationship '{name}' in field path. If you are attempting "
            "to use a custom relationship, be sure to append the '__r' after the custom "
            "relationship name. Please reference your WSDL or the describe call for the "
            "appropriate names.",
            "INVALID_FIELD",
        )
