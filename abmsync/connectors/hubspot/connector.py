"""HubSpot as an abmsync connector: CRM v3 objects through the official client.

- ``describe`` reads the properties API (types, options, read-only values).
- ``read_changes`` searches on ``hs_lastmodifieddate`` (ascending, 200 a page)
  from the cursor minus an overlap, bisects the time window whenever a search
  would pass HubSpot's 10,000-result cap, de-duplicates on (id, modified), and
  reports archived records as deletes. A full load is the same search from 0.
- ``write`` validates patches against ``describe`` first, then sends batch
  update / upsert / create calls of 100, one ``WriteResult`` per patch;
  per-record failures of a 207 are mapped back through ``objectWriteTraceId``
  and the ones HubSpot calls transient are sent again.
- ``ensure_fields`` creates the ``abmsync`` property group and missing properties.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate
from pydantic import SecretStr

from abmsync.connectors.base import (
    CheckItem,
    CheckReport,
    FieldMeta,
    FieldSpec,
    FieldType,
    ObjectMeta,
    Patch,
    PatchValue,
    WriteResult,
    validate_patch,
)
from abmsync.connectors.budget import ApiBudget
from abmsync.connectors.hubspot.client import (
    CATEGORY_KINDS,
    ErrorKind,
    HubSpotClient,
    HubSpotRejectedError,
)
from abmsync.connectors.hubspot.reading import (
    MODIFIED,
    ChangeReader,
)
from abmsync.errors import TerminalError

BATCH_SIZE = 100
ASSOCIATION_BATCH = 1000  # pairs per batch association call
GROUP = "abmsync"
# The fields the DESIGN's writeback names on contacts; ``check`` reports missing ones.
ABMSYNC_CONTACT_FIELDS = ("abm_score", "abm_grade", "abm_stage", "abm_score_reasons")

_TYPES: dict[str, FieldType] = {
    "string": FieldType.STRING,
    "number": FieldType.NUMBER,
    "enumeration": FieldType.PICKLIST,
    "datetime": FieldType.DATETIME,
    "date": FieldType.DATE,
    "bool": FieldType.BOOLEAN,
}
# abmsync type -> (HubSpot type, fieldType) for properties we create.
_CREATE_TYPES: dict[FieldType, tuple[str, str]] = {
    FieldType.TEXT: ("string", "textarea"),
    FieldType.PICKLIST: ("enumeration", "select"),
    FieldType.MULTIPICKLIST: ("enumeration", "checkbox"),
    FieldType.INTEGER: ("number", "number"),
    FieldType.NUMBER: ("number", "number"),
    FieldType.BOOLEAN: ("bool", "booleancheckbox"),
    FieldType.DATE: ("date", "date"),
    FieldType.DATETIME: ("datetime", "date"),
}


class HubSpotConnector(ChangeReader):
    """HubSpot CRM (contacts, companies, deals, notes) through ``hubspot-api-client``."""

    name = "hubspot"

    def __init__(
        self,
        access_token: SecretStr,
        *,
        host: str = "https://api.hubapi.com",
        timeout: float = 10,
        attempts: int = 6,
        overlap_ms: int = 30_000,
        record_attempts: int = 4,
        token_provider: Callable[[], SecretStr] | None = None,
        properties: Mapping[str, Sequence[str]] | None = None,
        budget: ApiBudget | None = None,
        verify: bool | str = True,
        search_per_second: float | None = 4.0,
    ) -> None:
        """``budget`` counts every API call and stops the run before the daily reserve.

        Without one the connector keeps 10% in reserve and has no per-run cap.
        ``verify``: TLS verification, or the path of a CA bundle to trust.
        ``search_per_second``: search calls are paced under HubSpot's own search limit.
        """
        self.client = HubSpotClient(
            access_token,
            host=host,
            timeout=timeout,
            attempts=attempts,
            token_provider=token_provider,
            budget=budget,
            verify=verify,
            search_per_second=search_per_second,
        )
        self.budget = self.client.budget
        self.overlap_ms = overlap_ms
        self.record_attempts = record_attempts
        self.properties = {obj: list(names) for obj, names in (properties or {}).items()}
        self._meta: dict[str, ObjectMeta] = {}

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()

    # -- check / describe ----------------------------------------------------------

    def check(self) -> CheckReport:
        """Token valid, rate-limit headroom, abmsync's contact properties present."""
        items: list[CheckItem] = []
        try:
            _, _, headers = self.client.call(
                "token check", "objects.basic_api", "get_page_with_http_info", "contacts", limit=1
            )
        except TerminalError as exc:
            return CheckReport(
                connector=self.name, items=[CheckItem(name="auth", ok=False, detail=str(exc))]
            )
        items.append(CheckItem(name="auth", ok=True, detail="access token accepted"))
        items.append(_rate_limit_item(headers))
        existing = set(self.describe("contacts").fields)
        missing = [f for f in ABMSYNC_CONTACT_FIELDS if f not in existing]
        detail = (
            "all abmsync contact properties present"
            if not missing
            else f"missing contact properties: {', '.join(missing)} "
            "(run abmsync crm install-fields)"
        )
        items.append(CheckItem(name="fields", ok=not missing, detail=detail))
        return CheckReport(connector=self.name, items=items)

    def describe(self, obj: str) -> ObjectMeta:
        """Fields of ``obj`` from the properties API, cached per connector."""
        if obj not in self._meta:
            response = self.client.call(f"describe {obj}", "properties.core_api", "get_all", obj)
            fields = {p.name: _field_meta(obj, p) for p in response.results}
            self._meta[obj] = ObjectMeta(name=obj, label=obj.title(), fields=fields)
        return self._meta[obj]

    # -- read ------------------------------------------------------------------------

    def select_fields(self, obj: str, fields: Sequence[str]) -> None:
        """Read only these properties of ``obj`` (unknown names are left out): a portal has
        hundreds, and every one read costs bandwidth on every page."""
        known = self.describe(obj).fields
        chosen = [f for f in dict.fromkeys([*fields, MODIFIED, "hs_object_id"]) if f in known]
        self.properties[obj] = chosen

    # -- write -------------------------------------------------------------------------

    def write(self, obj: str, patches: Sequence[Patch]) -> list[WriteResult]:
        """Validate, then batch update (by id), upsert (by unique property) or create."""
        meta = self.describe(obj)
        results: list[WriteResult | None] = [None] * len(patches)
        groups: dict[tuple[str, str | None], list[int]] = {}
        for index, patch in enumerate(patches):
            problem = validate_patch(meta, patch)
            if problem is not None:
                results[index] = problem
            elif patch.record_id is not None:
                groups.setdefault(("update", None), []).append(index)
            elif patch.external_id is not None:
                groups.setdefault(("upsert", patch.external_id[0]), []).append(index)
            else:
                groups.setdefault(("create", None), []).append(index)
        for (action, _), indexes in groups.items():
            for chunk in _chunks(indexes, patches, action):
                self._send(obj, action, chunk, patches, results)
        return [
            r
            if r is not None
            else WriteResult(
                record_id=patches[i].record_id,
                ok=False,
                error_code="NO_RESULT",
                message="HubSpot returned no result for this record",
            )
            for i, r in enumerate(results)
        ]

    def _send(
        self,
        obj: str,
        action: str,
        chunk: list[int],
        patches: Sequence[Patch],
        results: list[WriteResult | None],
    ) -> None:
        todo = chunk
        for attempt in range(self.record_attempts):
            body = _batch_body(action, todo, patches)
            try:
                # Plain JSON: the SDK's models cost more than the call (a dateutil
                # parse per timestamp of every record).
                response = self.client.call_json(
                    f"batch {action} {obj}", "objects.batch_api", action, obj, body
                )
            except HubSpotRejectedError as exc:
                for index in todo:
                    results[index] = WriteResult(
                        record_id=patches[index].record_id,
                        ok=False,
                        error_code=exc.vendor.code or exc.vendor.category or str(exc.vendor.status),
                        message=str(exc),
                    )
                return
            for record in response.get("results") or []:
                index = int(record["objectWriteTraceId"])
                created = action == "create" or bool(record.get("new"))
                results[index] = WriteResult(record_id=str(record["id"]), ok=True, created=created)
            retry: list[int] = []
            for error in response.get("errors") or []:
                for index in _error_indexes(error, todo, patches):
                    last = attempt == self.record_attempts - 1
                    category = error.get("category")
                    if CATEGORY_KINDS.get(category) is ErrorKind.TRANSIENT and not last:
                        retry.append(index)
                        continue
                    details = error.get("errors") or [{}]
                    code = details[0].get("code")
                    message = details[0].get("message") or error.get("message")
                    results[index] = WriteResult(
                        record_id=patches[index].record_id,
                        ok=False,
                        error_code=code or category,
                        message=str(message),
                    )
            if not retry:
                return
            todo = retry

    # -- fields and associations ----------------------------------------------------------

    def ensure_fields(self, spec: FieldSpec) -> list[str]:
        """Create the ``abmsync`` property group and the missing properties; idempotent."""
        obj = spec.obj
        groups = self.client.call(f"list groups {obj}", "properties.groups_api", "get_all", obj)
        if GROUP not in {g.name for g in groups.results}:
            group = PropertyGroupCreate(name=GROUP, label="abmsync", display_order=-1)
            try:
                self.client.call(
                    f"create group {obj}", "properties.groups_api", "create", obj, group
                )
            except HubSpotRejectedError as exc:
                if exc.vendor.status != 409:
                    raise
        self._meta.pop(obj, None)
        existing = set(self.describe(obj).fields)
        created: list[str] = []
        for wanted in spec.fields:
            if wanted.name in existing:
                continue
            try:
                self.client.call(
                    f"create property {obj}.{wanted.name}",
                    "properties.core_api",
                    "create",
                    obj,
                    _property_create(wanted),
                )
            except HubSpotRejectedError as exc:
                if exc.vendor.status != 409:  # created meanwhile (or by our retried call)
                    raise
                continue
            created.append(wanted.name)
        self._meta.pop(obj, None)
        return created

    def owner_ids_by_email(self) -> dict[str, str]:
        """Every active owner's id by their email (``/crm/v3/owners``, paged).

        ``hubspot_owner_id`` takes these ids; the write-back matches the CRM
        users the rules name to them by email.
        """
        found: dict[str, str] = {}
        after: str | None = None
        while True:
            page = self.client.call_json(
                "list owners", "owners.owners_api", "get_page", limit=500, after=after
            )
            for owner in page.get("results") or []:
                if owner.get("email") and not owner.get("archived"):
                    found.setdefault(str(owner["email"]).lower(), str(owner["id"]))
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return found

    def associate(self, from_obj: str, from_id: str, to_obj: str, to_id: str) -> None:
        """Link two records with HubSpot's default association (e.g. a note to a contact)."""
        self.client.call(
            f"associate {from_obj} {from_id} with {to_obj} {to_id}",
            "associations.v4.basic_api",
            "create_default",
            from_obj,
            from_id,
            to_obj,
            to_id,
        )

    def associate_many(self, from_obj: str, to_obj: str, pairs: Sequence[tuple[str, str]]) -> int:
        """Link many ``(from_id, to_id)`` pairs with the default association, 1,000 per call.

        Idempotent: linking records that are already linked changes nothing.
        Returns the number of pairs HubSpot confirmed.
        """
        from hubspot.crm.associations.v4 import (
            BatchInputPublicDefaultAssociationMultiPost,
            PublicDefaultAssociationMultiPost,
            PublicObjectId,
        )

        linked = 0
        for first in range(0, len(pairs), ASSOCIATION_BATCH):
            chunk = pairs[first : first + ASSOCIATION_BATCH]
            request = BatchInputPublicDefaultAssociationMultiPost(
                inputs=[
                    PublicDefaultAssociationMultiPost(
                        _from=PublicObjectId(id=a), to=PublicObjectId(id=b)
                    )
                    for a, b in chunk
                ]
            )
            response = self.client.call(
                f"associate {len(chunk)} {from_obj} with {to_obj}",
                "associations.v4.batch_api",
                "create_default",
                from_obj,
                to_obj,
                request,
            )
            linked += len(response.results or [])
        return linked

    def associated_ids(self, from_obj: str, from_id: str, to_obj: str) -> list[str]:
        """Ids of ``to_obj`` records associated with one record."""
        response = self.client.call(
            f"read associations of {from_obj} {from_id}",
            "associations.v4.basic_api",
            "get_page",
            from_obj,
            from_id,
            to_obj,
        )
        return [str(item.to_object_id) for item in response.results]


def _rate_limit_item(headers: Mapping[str, str]) -> CheckItem:
    def number(name: str) -> int | None:
        value = headers.get(name)
        return int(value) if value is not None and str(value).isdigit() else None

    daily, daily_left = (
        number("X-HubSpot-RateLimit-Daily"),
        number("X-HubSpot-RateLimit-Daily-Remaining"),
    )
    burst, burst_left = number("X-HubSpot-RateLimit-Max"), number("X-HubSpot-RateLimit-Remaining")
    if daily is None or daily_left is None:
        return CheckItem(name="rate limit", ok=True, detail="no rate-limit headers returned")
    ok = daily_left >= daily * 0.1
    detail = f"daily {daily_left:,}/{daily:,} left"
    if burst is not None and burst_left is not None:
        detail += f", burst {burst_left}/{burst}"
    return CheckItem(name="rate limit", ok=ok, detail=detail)


def _field_meta(obj: str, prop: Any) -> FieldMeta:
    kind = _TYPES.get(prop.type, FieldType.OTHER)
    if kind is FieldType.STRING and prop.field_type == "textarea":
        kind = FieldType.TEXT
    if kind is FieldType.PICKLIST and prop.field_type == "checkbox":
        kind = FieldType.MULTIPICKLIST
    metadata = prop.modification_metadata
    read_only = bool(metadata.read_only_value) if metadata is not None else False
    options = [o.value for o in prop.options or []]
    is_picklist = kind in (FieldType.PICKLIST, FieldType.MULTIPICKLIST)
    return FieldMeta(
        name=prop.name,
        label=prop.label or "",
        type=kind,
        picklist=options if is_picklist else None,
        restricted_picklist=is_picklist,
        writable=not read_only and not prop.calculated,
        external_id=bool(prop.has_unique_value) or (obj == "contacts" and prop.name == "email"),
    )


def _property_create(spec: FieldMeta) -> Any:
    kind, field_type = _CREATE_TYPES.get(spec.type, ("string", "text"))
    values = list(spec.picklist or [])
    if spec.type is FieldType.BOOLEAN:
        values = ["true", "false"]
    options = [
        OptionInput(label=v, value=v, hidden=False, display_order=i) for i, v in enumerate(values)
    ]
    return PropertyCreate(
        name=spec.name,
        label=spec.label or spec.name,
        type=kind,
        field_type=field_type,
        group_name=GROUP,
        options=options or None,
        has_unique_value=spec.external_id,
        description="Managed by abmsync",
    )


def _hub_value(value: PatchValue) -> str:
    """HubSpot takes every property value as a string; an empty string clears it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _batch_body(action: str, indexes: list[int], patches: Sequence[Patch]) -> dict[str, Any]:
    """A batch's body as HubSpot's JSON (the SDK serialises a dict as it is): building a
    model per record costs more than the call (each copies the SDK's configuration)."""

    def record(index: int) -> dict[str, Any]:
        patch = patches[index]
        body: dict[str, Any] = {
            "properties": {k: _hub_value(v) for k, v in patch.values.items()},
            "objectWriteTraceId": str(index),
        }
        if action == "update":
            body["id"] = patch.record_id
        elif action == "upsert":
            assert patch.external_id is not None
            body["idProperty"], body["id"] = patch.external_id
        return body

    return {"inputs": [record(i) for i in indexes]}


def _chunks(indexes: list[int], patches: Sequence[Patch], action: str) -> Iterator[list[int]]:
    """Batches of at most 100 with no key twice (HubSpot rejects duplicate ids in a batch)."""
    pending = list(indexes)
    while pending:
        chunk: list[int] = []
        keys: set[str] = set()
        later: list[int] = []
        for index in pending:
            key = _key(patches[index], action)
            if len(chunk) >= BATCH_SIZE or (key is not None and key in keys):
                later.append(index)
                continue
            chunk.append(index)
            if key is not None:
                keys.add(key)
        yield chunk
        pending = later


def _key(patch: Patch, action: str) -> str | None:
    if action == "update":
        return patch.record_id
    if action == "upsert" and patch.external_id is not None:
        key = patch.external_id[1]
        return key.lower() if patch.external_id[0] == "email" else key
    return None


def _error_indexes(
    error: Mapping[str, Any], todo: list[int], patches: Sequence[Patch]
) -> list[int]:
    """Which patches a 207 error is about: by ``objectWriteTraceId``, else by id."""
    context = error.get("context") or {}
    traces = context.get("objectWriteTraceId") or []
    if traces:
        return [int(t) for t in traces if str(t).isdigit() and int(t) in todo]
    ids = set(context.get("ids") or [])
    return [i for i in todo if _patch_key(patches[i]) in ids]


def _patch_key(patch: Patch) -> str | None:
    """The id HubSpot reports a patch's record under: its id, else its upsert value."""
    if patch.record_id is not None:
        return patch.record_id
    return patch.external_id[1] if patch.external_id is not None else None
