"""The Dataverse Web API's resources: entity sets, records, change tracking and actions.

:class:`WebApi` answers one parsed request (:class:`ApiRequest`) with a
:class:`Reply`; the HTTP endpoint and ``$batch`` both go through it.

Change tracking follows "Use change tracking to synchronize data with external
systems" (https://learn.microsoft.com/power-apps/developer/data-platform/
use-change-tracking-synchronize-data-external-systems): ``Prefer:
odata.track-changes`` returns every row and, on the last page, an
``@odata.deltaLink`` whose ``$deltatoken`` is ``<version>!<MM/dd/yyyy HH:mm:ss>``;
the delta lists each changed row once with its latest values, then
``$deletedEntity`` items. A page of a full or delta read covers versions up to
the one current when the read started, so a row changed while a client pages is
not lost: it is in the next delta (and may be seen twice).

Guesses:
- ``$skiptoken`` is a paging-cookie XML holding a page number (and, for change
  tracking, the version range); clients treat it as opaque.
- A change-tracking read of a table without change tracking answers 400
  ``0x80072491`` "Change tracking is not enabled for entity ...".
- UpsertMultiple and CreateMultiple answer ``{"Ids": [...]}``.
- An unknown API version answers 404 ``0x80060888`` "Resource not found for the segment".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote as urlquote
from urllib.parse import unquote, urlencode

from abmsync.sandbox.dynamics import errors, odata, records
from abmsync.sandbox.dynamics.errors import DataverseError
from abmsync.sandbox.dynamics.metadata import AttributeDef, EntityDef
from abmsync.sandbox.dynamics.store import DataverseStore, Row

if TYPE_CHECKING:
    from abmsync.sandbox.dynamics.app import DynamicsConfig

CT_DISABLED = "0x80072491"
WHOAMI = "Microsoft.Dynamics.CRM.WhoAmIResponse"
_SEGMENT = re.compile(r"^([^()]+)(?:\((.*)\))?$", re.DOTALL)
_COOKIE = re.compile(r'pagenumber="(\d+)"(?:.*?pagingcookie="([^"]*)")?', re.DOTALL)
_NOT_WITH_TRACKING = ("$filter", "$orderby", "$expand", "$top")


@dataclass
class ApiRequest:
    """One Web API call: method, path below ``/api/data/vX.Y/``, query, headers, body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    base: str = ""  # https://host/api/data/v9.2

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except json.JSONDecodeError as error:
            raise DataverseError(
                400, errors.PAYLOAD, f"Invalid JSON. {error.msg} at position {error.pos}."
            ) from None

    def prefer(self) -> dict[str, str]:
        """The ``Prefer`` header's preferences (``odata.maxpagesize`` -> ``"10"``)."""
        out: dict[str, str] = {}
        for part in split_outside_quotes(self.headers.get("prefer", ""), ","):
            name, _, value = part.strip().partition("=")
            if name:
                out[name.strip().lower()] = value.strip().strip('"')
        return out


@dataclass
class Reply:
    """An answer: status, headers and a JSON body (None for no content)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char in "'\"":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == sep and depth == 0 and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def stamp_token(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%m/%d/%Y %H:%M:%S")


class WebApi:
    """Record resources of one org's Web API."""

    def __init__(self, store: DataverseStore, config: DynamicsConfig) -> None:
        self.store = store
        self.config = config

    # -- dispatch -----------------------------------------------------------------

    def handle(self, request: ApiRequest) -> Reply:
        segments = [s for s in split_outside_quotes(request.path, "/") if s]
        if not segments:
            return self.service_document(request)
        first = segments[0]
        if first in ("WhoAmI", "WhoAmI()"):
            return Reply(
                200,
                {
                    "@odata.context": f"{request.base}/$metadata#{WHOAMI}",
                    "BusinessUnitId": self.store.business_unit_id,
                    "UserId": self.store.admin_id,
                    "OrganizationId": self.store.organization_id,
                },
            )
        if first == "Merge" and request.method == "POST":
            return self.merge(request)
        match = _SEGMENT.match(first)
        table = self.store.table_by_set(match.group(1)) if match else None
        if match is None or table is None:
            raise DataverseError(
                404, errors.ODATA, f"Resource not found for the segment '{first}'."
            )
        key = match.group(2)
        rest = segments[1:]
        if key is None:
            return self.collection(request, table, rest)
        parsed = records.parse_key(table, key)
        if rest:
            action = rest[0].removeprefix("Microsoft.Dynamics.CRM.")
            if action == "QualifyLead" and table.name == "lead" and request.method == "POST":
                return self.qualify(request, parsed)
            raise DataverseError(
                404, errors.ODATA, f"Resource not found for the segment '{rest[0]}'."
            )
        return self.record(request, table, parsed)

    def service_document(self, request: ApiRequest) -> Reply:
        sets = [
            {"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set}
            for t in self.store.tables.values()
        ]
        return Reply(200, {"@odata.context": f"{request.base}/$metadata", "value": sets})

    # -- collections --------------------------------------------------------------

    def collection(self, request: ApiRequest, table: EntityDef, rest: list[str]) -> Reply:
        if rest:
            action = rest[0].removeprefix("Microsoft.Dynamics.CRM.")
            if request.method == "POST" and action in (
                "CreateMultiple",
                "UpdateMultiple",
                "UpsertMultiple",
            ):
                return self.multiple(request, table, action)
            if rest == ["$count"] and request.method == "GET":
                return Reply(200, self.store.count(table.name))
            raise DataverseError(
                404, errors.ODATA, f"Resource not found for the segment '{rest[0]}'."
            )
        if request.method == "POST":
            return self.create(request, table)
        if request.method != "GET":
            raise DataverseError(
                405, errors.ODATA, f"The HTTP method '{request.method}' is not allowed."
            )
        prefer = request.prefer()
        query = request.query
        cookie = query.get("$skiptoken")
        tracking = (
            "$deltatoken" in query
            or "odata.track-changes" in prefer
            or (cookie is not None and 'istracking="True"' in unquote(cookie))
        )
        if tracking:
            return self.changes(request, table, prefer)
        return self.query(request, table, prefer)

    def _page_size(self, prefer: dict[str, str]) -> int:
        size = prefer.get("odata.maxpagesize")
        if size is None:
            return self.config.page_size
        try:
            return max(1, min(int(size), self.config.page_size))
        except ValueError:
            return self.config.page_size

    def _applied(self, prefer: dict[str, str], *extra: str) -> dict[str, str]:
        applied = list(extra)
        if "odata.maxpagesize" in prefer:
            applied.append(f"odata.maxpagesize={prefer['odata.maxpagesize']}")
        if "odata.include-annotations" in prefer:
            applied.append(f'odata.include-annotations="{prefer["odata.include-annotations"]}"')
        return {"Preference-Applied": ",".join(applied)} if applied else {}

    def _select(self, request: ApiRequest, table: EntityDef) -> list[AttributeDef] | None:
        text = request.query.get("$select")
        return odata.parse_select(text, table) if text else None

    def _context(self, request: ApiRequest, table: EntityDef, suffix: str = "") -> str:
        select = request.query.get("$select")
        shape = f"({select})" if select else ""
        return f"{request.base}/$metadata#{table.entity_set}{shape}{suffix}"

    def _expand(
        self, request: ApiRequest, table: EntityDef
    ) -> list[tuple[AttributeDef, str, list[AttributeDef] | None]]:
        text = request.query.get("$expand")
        if not text:
            return []
        out = []
        for item in split_outside_quotes(text, ","):
            match = _SEGMENT.match(item.strip())
            nav = match.group(1).strip() if match else item
            found = records.navigation(table, nav)
            if found is None:
                raise errors.unknown_property(nav, table.name)
            attribute, target = found
            nested = None
            options = match.group(2) if match else None
            if options:
                for option in options.split(";"):
                    name, _, value = option.partition("=")
                    if name.strip() == "$select":
                        nested = odata.parse_select(value, self.store.tables[target])
            out.append((attribute, nav, nested))
        return out

    def query(self, request: ApiRequest, table: EntityDef, prefer: dict[str, str]) -> Reply:
        query = request.query
        select = self._select(request, table)
        expand = self._expand(request, table)
        where: str = ""
        params: list[Any] = []
        if query.get("$filter"):
            where, params = odata.parse_filter(query["$filter"], table)
        order = odata.parse_orderby(query.get("$orderby", ""), table)
        top = _int_option(query, "$top")
        size = self._page_size(prefer)
        page = 1
        if "$skiptoken" in query:
            page = _cookie_page(query["$skiptoken"])
        offset = (page - 1) * size
        limit = size if top is None else max(0, min(size, top - offset))
        rows = self.store.select(table.name, where, params, order, limit + 1, offset)
        more = len(rows) > limit and (top is None or offset + limit < top)
        rows = rows[:limit]
        serializer = records.Serializer(
            self.store, records.Annotations(prefer.get("odata.include-annotations"))
        )
        body: dict[str, Any] = {"@odata.context": self._context(request, table)}
        if query.get("$count", "").lower() == "true":
            body["@odata.count"] = self.store.count(table.name, where, params)
        body["value"] = [serializer.row(table, r, select, expand) for r in rows]
        if more:
            cookie = _cookie(page + 1, f"{rows[-1][table.primary_id]}", tracking=False)
            body["@odata.nextLink"] = self._link(request, table, {"$skiptoken": cookie})
        return Reply(200, body, self._applied(prefer))

    def _link(self, request: ApiRequest, table: EntityDef, extra: dict[str, str]) -> str:
        params = {k: v for k, v in request.query.items() if k not in ("$skiptoken", "$deltatoken")}
        params |= extra
        return f"{request.base}/{table.entity_set}?" + urlencode(
            params, quote_via=urlquote, safe="$,'()"
        )

    # -- change tracking ----------------------------------------------------------

    def changes(self, request: ApiRequest, table: EntityDef, prefer: dict[str, str]) -> Reply:
        for option in _NOT_WITH_TRACKING:
            if option in request.query:
                raise DataverseError(
                    400,
                    errors.ODATA,
                    f'The "{option}" query parameter isn\'t supported when Change Tracking is '
                    "enabled.",
                )
        if not table.change_tracking:
            raise DataverseError(
                400, CT_DISABLED, f"Change tracking is not enabled for entity '{table.name}'."
            )
        select = self._select(request, table)
        size = self._page_size(prefer)
        query = request.query
        delta = "$deltatoken" in query
        if "$skiptoken" in query:
            since, upto, after, page = _tracking_cookie(query["$skiptoken"])
            delta = since > 0
        elif delta:
            since, upto, after, page = (
                self._delta_version(query["$deltatoken"]),
                self.store.version,
                0,
                1,
            )
        else:
            since, upto, after, page = 0, self.store.version, 0, 1
        rows = self.store.changed_rows(table.name, max(since, after), upto, size + 1)
        serializer = records.Serializer(
            self.store, records.Annotations(prefer.get("odata.include-annotations"))
        )
        value: list[dict[str, Any]] = [serializer.row(table, r, select) for r in rows[:size]]
        more = len(rows) > size
        if delta and not more:
            context = f"{request.base}/$metadata#{table.entity_set}/$deletedEntity"
            for record_id, _version in self.store.deleted_ids(table.name, since, upto):
                value.append({"@odata.context": context, "id": record_id, "reason": "deleted"})
        suffix = "/$delta" if delta else ""
        body: dict[str, Any] = {"@odata.context": self._context(request, table, suffix)}
        body["value"] = value
        if more:
            last = int(rows[size - 1]["versionnumber"])
            cookie = _cookie(page + 1, f"{since}:{upto}:{last}", tracking=True)
            body["@odata.nextLink"] = self._link(request, table, {"$skiptoken": cookie})
        else:
            token = f"{upto}!{stamp_token(self.store.clock())}"
            body["@odata.deltaLink"] = self._link(request, table, {"$deltatoken": token})
        return Reply(200, body, self._applied(prefer, "odata.track-changes"))

    def _delta_version(self, token: str) -> int:
        version, _, stamp = unquote(token).partition("!")
        expired = DataverseError(
            400,
            errors.EXPIRED_VERSION,
            "Version stamp associated with the client has expired. Please perform a full sync.",
        )
        try:
            number = int(version)
            issued = datetime.strptime(stamp, "%m/%d/%Y %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            raise expired from None
        if number > self.store.version or number < 0:
            raise expired
        if self.store.clock() - issued > timedelta(days=self.config.change_tracking_days):
            raise expired
        return number

    # -- single records -----------------------------------------------------------

    def _entity_id(self, request: ApiRequest, table: EntityDef, record_id: str) -> str:
        return f"{request.base}/{table.entity_set}({record_id})"

    def _located(self, request: ApiRequest, table: EntityDef, record_id: str) -> Reply:
        representation = "return=representation" in request.headers.get("prefer", "")
        raw = self.store.get_raw(table.name, record_id) or {}
        headers = {"OData-EntityId": self._entity_id(request, table, record_id)}
        if not representation:
            return Reply(204, None, headers)
        serializer = records.Serializer(
            self.store, records.Annotations(request.prefer().get("odata.include-annotations"))
        )
        body = serializer.row(table, raw, self._select(request, table))
        body = {"@odata.context": self._context(request, table, "/$entity"), **body}
        headers["Preference-Applied"] = "return=representation"
        headers["ETag"] = records.etag(raw)
        return Reply(201, body, headers)

    def create(self, request: ApiRequest, table: EntityDef) -> Reply:
        values = records.parse_body(self.store, table, request.json(), creating=True)
        record_id = self.store.create(table.name, values)
        return self._located(request, table, record_id)

    def record(self, request: ApiRequest, table: EntityDef, key: str | dict[str, Any]) -> Reply:
        found = records.find(self.store, table, key)
        method = request.method
        if method == "GET":
            if found is None:
                raise self._missing(table, key)
            raw = self.store.get_raw(table.name, found) or {}
            serializer = records.Serializer(
                self.store, records.Annotations(request.prefer().get("odata.include-annotations"))
            )
            body = serializer.row(
                table, raw, self._select(request, table), self._expand(request, table)
            )
            body = {"@odata.context": self._context(request, table, "/$entity"), **body}
            return Reply(200, body, {"ETag": records.etag(raw)})
        if method == "DELETE":
            if found is None:
                raise self._missing(table, key)
            self.store.delete(table.name, found)
            return Reply(204)
        if method in ("PATCH", "PUT"):
            return self.upsert(request, table, key, found)
        raise DataverseError(405, errors.ODATA, f"The HTTP method '{method}' is not allowed.")

    def _missing(self, table: EntityDef, key: str | dict[str, Any]) -> DataverseError:
        return errors.not_found(table.name, records.key_text(key))

    def upsert(
        self, request: ApiRequest, table: EntityDef, key: str | dict[str, Any], found: str | None
    ) -> Reply:
        """PATCH: update, or create when absent, as "Use Upsert to create or update a record"
        (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api)
        documents: ``If-Match: *`` prevents a create (404), ``If-None-Match: *`` an
        update (412 ``0x80040237``)."""
        body = request.json()
        if request.headers.get("if-none-match", "").strip() == "*" and found is not None:
            raise DataverseError(
                412, errors.DUPLICATE, "A record with matching key values already exists."
            )
        if_match = request.headers.get("if-match", "").strip()
        if found is None and if_match:
            raise self._missing(table, key)
        if found is not None and if_match not in ("", "*"):
            current = self.store.get_raw(table.name, found) or {}
            if if_match != records.etag(current):
                raise DataverseError(
                    412,
                    "0x80060882",
                    "The version of the existing record doesn't match the RowVersion property "
                    "provided.",
                )
        if found is not None:
            values = records.parse_body(self.store, table, body, creating=False)
            self.store.update(table.name, found, values)
            reply = self._located(request, table, found)
            if reply.status == 201:
                reply.status = 200
            return reply
        values = records.parse_body(self.store, table, body, creating=True)
        values |= records.key_values(self.store, table, key)
        record_id = self.store.create(table.name, values)
        return self._located(request, table, record_id)

    # -- actions ------------------------------------------------------------------

    def qualify(self, request: ApiRequest, key: str | dict[str, Any]) -> Reply:
        """QualifyLead (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/qualifylead)."""
        table = self.store.table("lead")
        found = records.find(self.store, table, key)
        if found is None:
            raise self._missing(table, key)
        body = request.json()
        for required in ("CreateAccount", "CreateContact", "CreateOpportunity", "Status"):
            if required not in body:
                raise DataverseError(
                    400,
                    errors.PAYLOAD,
                    f"The parameter '{required}' of the action 'QualifyLead' is missing.",
                )
        existing = body.get("OpportunityCustomerId")
        made = self.store.qualify_lead(
            found,
            create_account=bool(body["CreateAccount"]),
            create_contact=bool(body["CreateContact"]),
            create_opportunity=bool(body["CreateOpportunity"]),
            status=int(body["Status"]),
            existing_account=existing.get("accountid") if isinstance(existing, dict) else None,
        )
        value = []
        for logical, record_id in made.items():
            target = self.store.tables[logical]
            value.append(
                {"@odata.type": f"#Microsoft.Dynamics.CRM.{logical}", target.primary_id: record_id}
            )
        context = f"{request.base}/$metadata#Collection(Microsoft.Dynamics.CRM.crmbaseentity)"
        return Reply(200, {"@odata.context": context, "value": value})

    def merge(self, request: ApiRequest) -> Reply:
        """Merge (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/merge)."""
        body = request.json()
        target, subordinate = body.get("Target"), body.get("Subordinate")
        if not isinstance(target, dict) or not isinstance(subordinate, dict):
            raise DataverseError(
                400, errors.PAYLOAD, "The parameters 'Target' and 'Subordinate' are required."
            )
        logical = (
            str(target.get("@odata.type", ""))
            .removeprefix("#")
            .removeprefix("Microsoft.Dynamics.CRM.")
        )
        table = self.store.table(logical)
        target_id = target.get(table.primary_id)
        subordinate_id = subordinate.get(table.primary_id)
        if not target_id or not subordinate_id:
            raise DataverseError(
                400, errors.PAYLOAD, f"Target and Subordinate need '{table.primary_id}'."
            )
        content = body.get("UpdateContent") or {}
        values = records.parse_body(self.store, table, content, creating=False)
        values.pop(table.primary_id, None)
        self.store.merge(logical, str(target_id), str(subordinate_id), values)
        return Reply(204)

    def multiple(self, request: ApiRequest, table: EntityDef, action: str) -> Reply:
        """CreateMultiple / UpdateMultiple / UpsertMultiple: all targets or none."""
        targets = request.json().get("Targets")
        if not isinstance(targets, list) or not targets:
            raise DataverseError(400, errors.PAYLOAD, "The parameter 'Targets' is required.")
        ids: list[str] = []
        with self.store.transaction():
            for target in targets:
                ids.append(self._one_of_many(request, table, action, target))
        if action == "UpdateMultiple":
            return Reply(204)
        context = f"{request.base}/$metadata#Microsoft.Dynamics.CRM.{action}Response"
        return Reply(200, {"@odata.context": context, "Ids": ids})

    def _one_of_many(self, request: ApiRequest, table: EntityDef, action: str, target: Any) -> str:
        if not isinstance(target, dict):
            raise errors.payload_error(table.entity_set, "Each target must be an object.")
        kind = (
            str(target.get("@odata.type", ""))
            .removeprefix("#")
            .removeprefix("Microsoft.Dynamics.CRM.")
        )
        if kind != table.name:
            raise errors.payload_error(
                table.entity_set, f"The @odata.type '{kind}' does not match table '{table.name}'."
            )
        key: str | dict[str, Any] | None = None
        odata_id = target.get("@odata.id")
        if isinstance(odata_id, str):
            match = _SEGMENT.match(odata_id.rsplit("/", 1)[-1])
            key = records.parse_key(table, match.group(2) or "") if match else None
        elif target.get(table.primary_id):
            key = str(target[table.primary_id]).lower()
        found = records.find(self.store, table, key) if key is not None else None
        if action == "UpdateMultiple" or (action == "UpsertMultiple" and found is not None):
            if found is None:
                raise self._missing(table, key or "")
            values = records.parse_body(self.store, table, target, creating=False)
            values.pop(table.primary_id, None)
            self.store.update(table.name, found, values)
            return found
        values = records.parse_body(self.store, table, target, creating=True)
        if key is not None:
            values |= records.key_values(self.store, table, key)
        return self.store.create(table.name, values)


def _int_option(query: dict[str, str], name: str) -> int | None:
    if name not in query:
        return None
    try:
        return max(0, int(query[name]))
    except ValueError:
        raise DataverseError(
            400, errors.ODATA, f"Invalid value '{query[name]}' for query option {name}."
        ) from None


def _cookie(page: int, cookie: str, *, tracking: bool) -> str:
    inner = urlquote(f'<cookie page="{page - 1}"><last>{cookie}</last></cookie>', safe="")
    return (
        f'<cookie pagenumber="{page}" pagingcookie="{inner}" '
        f'istracking="{"True" if tracking else "False"}" />'
    )


def _cookie_page(token: str) -> int:
    match = _COOKIE.search(unquote(token))
    if not match:
        raise DataverseError(400, errors.ODATA, "The $skiptoken is not valid.")
    return max(1, int(match.group(1)))


def _tracking_cookie(token: str) -> tuple[int, int, int, int]:
    text = unquote(token)
    match = _COOKIE.search(text)
    last = re.search(r"<last>(\d+):(\d+):(\d+)</last>", unquote(text))
    if not match or not last:
        raise DataverseError(400, errors.ODATA, "The $skiptoken is not valid.")
    since, upto, after = (int(g) for g in last.groups())
    return since, upto, after, int(match.group(1))


Rows = list[Row]
