"""The Salesforce emulator: the REST API surface abmsync and simple-salesforce use.

``create_app()`` returns a Starlette app that answers like a Salesforce org:
OAuth2 token flows, SOQL queries with ``nextRecordsUrl`` paging, describe,
sObject CRUD and upsert by external id, sObject Collections (composite) with
per-record errors, ``updated/`` and ``deleted/``, ``limits`` with the daily
API quota and the ``Sforce-Limit-Info`` header, and Tooling API
``CustomField``/``CustomObject`` creation. Request-level faults come from
:class:`~abmsync.sandbox.faults.FaultMiddleware` with Salesforce-shaped
bodies. ``/__sandbox/convert_lead`` and ``/__sandbox/merge`` let tests
convert and merge records as a user would in the Salesforce UI.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from abmsync.sandbox.faults import FaultMiddleware, Faults
from abmsync.sandbox.salesforce import composite, rest, tree
from abmsync.sandbox.salesforce.bulk import BulkJobs
from abmsync.sandbox.salesforce.bulk_v1 import BulkV1Jobs
from abmsync.sandbox.salesforce.limits import org_limits
from abmsync.sandbox.salesforce.oauth import OAuthServer, oauth_routes
from abmsync.sandbox.salesforce.queries import QueryCursors
from abmsync.sandbox.salesforce.soql import SoqlError
from abmsync.sandbox.salesforce.store import (
    ObjectDef,
    Record,
    RecordError,
    Store,
    custom_field,
    format_datetime,
)
from abmsync.sandbox.salesforce.versions import UPSERT_BODY_SINCE, major, parse_version, resources

MAX_COLLECTION = 200
ApiError = rest.ApiError


@dataclass
class SandboxConfig:
    """Credentials and limits of the emulated org."""

    client_id: str = "abmsync-sandbox"
    client_secret: str = "sandbox-secret"
    users: dict[str, str] = field(
        default_factory=lambda: {"admin@abmsync.sandbox": "sandbox-password"}
    )
    token_lifetime: float = 7200.0  # seconds
    # The connected app's callback URLs and selected OAuth scopes (web server flow).
    callback_urls: tuple[str, ...] = ("https://localhost/oauth/callback",)
    oauth_scopes: str = "api id refresh_token"
    daily_api_limit: int = 100_000
    page_size: int = 2000
    api_version: str = "62.0"


class SalesforceSandbox:
    """The state of one emulated org and the handlers of its REST resources."""

    def __init__(
        self,
        config: SandboxConfig,
        faults: Faults,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.faults = faults
        self.store = Store(clock)
        self.api_used = 0
        self.oauth = OAuthServer(config, self.store)
        self.queries = QueryCursors(lambda: self.config.page_size)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        # Validation rules admins add in Setup: (object, check, message); a write whose
        # values make ``check`` true fails with FIELD_CUSTOM_VALIDATION_EXCEPTION.
        self.validation_rules: list[tuple[str, Callable[[Mapping[str, Any]], bool], str]] = []

    def add_validation_rule(
        self, obj: str, check: Callable[[Mapping[str, Any]], bool], message: str
    ) -> None:
        """Reject writes to ``obj`` whose values (with ``Id``) make ``check`` true."""
        self.validation_rules.append((obj.lower(), check, message))

    def _validate(self, obj: ObjectDef, record: Mapping[str, Any]) -> None:
        for name, check, message in self.validation_rules:
            if name == obj.name.lower() and check(record):
                raise RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", message)

    # -- tokens and quota -------------------------------------------------------

    def issue_token(self, form: dict[str, str], base_url: str) -> dict[str, Any]:
        """A token answer of ``POST /services/oauth2/token`` (see :mod:`.oauth`)."""
        return self.oauth.issue_token(form, base_url)

    def expire_tokens(self) -> None:
        """Expire every issued access token (as after the session timeout)."""
        self.oauth.expire_tokens()

    def authorize(self, header: str) -> None:
        """Raise 401 ``INVALID_SESSION_ID`` unless ``header`` carries a live token."""
        if self.oauth.session(header) is None:
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def count_call(self) -> None:
        """Charge one API call, or raise 403 ``REQUEST_LIMIT_EXCEEDED`` when none are left."""
        with self._lock:
            if self.api_used >= self.config.daily_api_limit:
                raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.api_used += 1

    def limit_header(self) -> str:
        """The ``Sforce-Limit-Info`` header every REST answer carries."""
        return f"api-usage={self.api_used}/{self.config.daily_api_limit}"

    def limits(self) -> dict[str, Any]:
        """The ``limits`` resource (see :mod:`.limits`)."""
        return org_limits(self.config.daily_api_limit, self.api_used)

    # -- dispatch ---------------------------------------------------------------

    def handle(self, method: str, parts: list[str], params: dict[str, str], body: Any) -> Any:
        """Route one ``/services/data/vXX.X/...`` request; return (status, json) or raise.

        ``parts[0]`` is a served version (``v62.0``); a method the resource does not
        take answers 405 ``METHOD_NOT_ALLOWED``.
        """
        version = parts[0].removeprefix("v")
        allow = rest.Allow("GET" if method == "HEAD" else method)
        match parts[1:]:
            case []:
                allow("GET")
                return 200, resources(version)
            case ["limits"]:
                allow("GET")
                return 200, self.limits()
            case ["query" | "queryAll" as kind]:
                allow("GET")
                return 200, self.query(params.get("q", ""), version, kind, params)
            case ["query" | "queryAll" as kind, locator]:
                allow("GET")
                return 200, self.query_more(locator, version, kind, params)
            case ["sobjects"]:
                allow("GET")
                objects = [o.summary(version) for o in self.store.objects.values()]
                return 200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objects}
            case ["sobjects", name]:
                obj = self._object(name)
                if allow("GET", "POST") == "POST":
                    return 201, self._create_one(obj, body)
                return 200, {"objectDescribe": obj.summary(version), "recentItems": []}
            case ["sobjects", name, "describe"]:
                allow("GET")
                return 200, self._object(name).describe(version)
            case ["sobjects", name, "updated" | "deleted" as kind]:
                allow("GET")
                return 200, self.changes(self._object(name), kind, params)
            case ["sobjects", name, rid]:
                allow("GET", "PATCH", "DELETE")
                return self.one_record(method, self._object(name), rid, body, version, params)
            case ["sobjects", name, key, value]:
                allow("GET", "PATCH", "DELETE")
                obj = self._object(name)
                if key.lower() == "id":
                    return self.one_record(method, obj, value, body, version, params)
                return self.upsert_one(method, obj, key, value, body, version)
            case ["composite"]:
                allow("POST")
                dispatch = self.dispatcher()
                return 200, composite.run_composite(self.store, version, body, dispatch)
            case ["composite", "batch"]:
                allow("POST")
                answer = composite.run_batch(version, body, self.dispatcher(), self.count_call)
                return 200, answer
            case ["composite", "tree", name]:
                allow("POST")
                return tree.create_tree(self.store, self._object(name), body)
            case ["composite", "sobjects"]:
                allow("POST", "PATCH", "DELETE")
                return 200, self.collection(method, body, params)
            case ["composite", "sobjects", name]:
                obj = self._object(name)
                return 200, self.retrieve(allow("GET", "POST"), obj, body, params, version)
            case ["composite", "sobjects", name, key]:
                allow("PATCH")
                return 200, self.collection(method, body, params, upsert=(name, key))
            case ["tooling", "sobjects", "CustomField"]:
                allow("POST")
                return 201, self.create_custom_field(body)
            case ["tooling", "sobjects", "CustomObject"]:
                allow("POST")
                return 201, self.create_custom_object(body)
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    def dispatcher(self) -> composite.Dispatch:
        """Run a subrequest (``/services/data/vXX.X/...``) as the REST endpoint would."""

        def dispatch(method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, Any]:
            parts = [p for p in path.removeprefix("/services/data/").split("/") if p]
            try:
                if not parts or parse_version(parts[0], self.config.api_version) is None:
                    raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
                status, answer = self.handle(method, parts, params, body)
            except ApiError as error:
                return error.status, error.body
            return status, answer

        return dispatch

    def retrieve(
        self, method: str, obj: ObjectDef, body: Any, params: dict[str, str], version: str
    ) -> Any:
        """sObject Collections retrieve: ``GET ?ids=&fields=`` or ``POST {"ids", "fields"}``."""
        if method == "POST":
            payload = _mapping(body)
            ids, fields = payload.get("ids"), payload.get("fields")
            if not isinstance(ids, list) or not isinstance(fields, list):
                raise ApiError(400, "JSON_PARSER_ERROR", "ids and fields must be lists")
            wanted = [str(f) for f in fields]
            return tree.retrieve(self.store, obj, [str(i) for i in ids], wanted, version, 2000)
        ids = [i for i in params.get("ids", "").split(",") if i]
        fields = [f for f in params.get("fields", "").split(",") if f]
        return tree.retrieve(self.store, obj, ids, fields, version, 200)

    def _object(self, name: str) -> ObjectDef:
        obj = self.store.get_object(name)
        if obj is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    # -- queries ----------------------------------------------------------------

    def query(self, soql: str, version: str, kind: str, params: dict[str, str]) -> dict[str, Any]:
        """``query``/``queryAll``: the first page of ``soql`` (see :mod:`.queries`)."""
        try:
            return self.queries.open(self.store, soql, version, kind, params)
        except SoqlError as error:
            raise ApiError(400, error.code, error.message) from error

    def query_more(
        self, token: str, version: str, kind: str, params: dict[str, str]
    ) -> dict[str, Any]:
        """The page a ``nextRecordsUrl`` names."""
        try:
            return self.queries.more(token, version, kind, params)
        except SoqlError as error:
            raise ApiError(400, error.code, error.message) from error

    def changes(self, obj: ObjectDef, kind: str, params: dict[str, str]) -> dict[str, Any]:
        """``sobjects/{Obj}/updated/`` and ``deleted/`` for a start/end window."""
        now = self.store.clock()
        start, end = rest.replication_window(params, now)
        covered = format_datetime(min(end, now))
        if kind == "updated":
            return {"ids": self.store.changed_ids(obj, start, end), "latestDateCovered": covered}
        earliest = format_datetime(now - timedelta(days=rest.REPLICATION_DAYS))
        return {
            "deletedRecords": self.store.deleted_since(obj, start, end),
            "earliestDateAvailable": earliest,
            "latestDateCovered": covered,
        }

    # -- single records -----------------------------------------------------------

    def _create_one(self, obj: ObjectDef, body: Any) -> dict[str, Any]:
        try:
            rid = self.store.create(obj.name, _mapping(body))
        except RecordError as error:
            raise ApiError(400, error.code, error.message, error.fields) from error
        return {"id": rid, "success": True, "errors": []}

    def one_record(
        self,
        method: str,
        obj: ObjectDef,
        rid: str,
        body: Any,
        version: str,
        params: dict[str, str],
    ) -> tuple[int, Any]:
        try:
            if method == "PATCH":
                self.store.update(obj.name, rid, _mapping(body))
                return 204, None
            if method == "DELETE":
                self.store.delete(obj.name, rid)
                return 204, None
        except RecordError as error:
            status = 404 if error.code == "INVALID_CROSS_REFERENCE_KEY" else 400
            raise ApiError(status, error.code, error.message, error.fields) from error
        record = self.store.get(obj, rid)
        if record is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        wanted = [f.strip() for f in params.get("fields", "").split(",") if f.strip()]
        if wanted:
            record = {k: v for k, v in record.items() if k in wanted or k == "Id"}
        url = f"/services/data/v{version}/sobjects/{obj.name}/{record['Id']}"
        return 200, {"attributes": {"type": obj.name, "url": url}, **record}

    def upsert_one(
        self, method: str, obj: ObjectDef, key: str, value: str, body: Any, version: str
    ) -> tuple[int, Any]:
        """``sobjects/{Obj}/{ExtIdField}/{value}``: read, upsert (PATCH) or delete by external id.

        An update answers 200 with a body from API 46.0 on and 204 before; a create
        answers 201, with ``created`` from 46.0 on (see :mod:`.versions`).
        """
        spec = obj.field(key)
        if spec is None or not spec.external_id:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {key}",
            )
        matches = self.store.find(obj, spec.name, value)
        if len(matches) > 1:
            return 300, [f"/services/data/v{version}/sobjects/{obj.name}/{m}" for m in matches]
        if method != "PATCH":
            if not matches:
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            if method == "DELETE":
                self.store.delete(obj.name, matches[0])
                return 204, None
            record = self.store.get(obj, matches[0]) or {}
            url = f"/services/data/v{version}/sobjects/{obj.name}/{matches[0]}"
            return 200, {"attributes": {"type": obj.name, "url": url}, **record}
        values = {**_mapping(body), spec.name: value}
        with_body = major(version) >= UPSERT_BODY_SINCE
        try:
            if matches:
                self.store.update(obj.name, matches[0], values)
                if not with_body:
                    return 204, None
                return 200, {"id": matches[0], "success": True, "errors": [], "created": False}
            rid = self.store.create(obj.name, values)
        except RecordError as error:
            raise ApiError(400, error.code, error.message, error.fields) from error
        answer: dict[str, Any] = {"id": rid, "success": True, "errors": []}
        if with_body:
            answer["created"] = True
        return 201, answer

    # -- sObject collections --------------------------------------------------------

    def collection(
        self,
        method: str,
        body: Any,
        params: dict[str, str],
        upsert: tuple[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """``composite/sobjects``: create (POST), update (PATCH), upsert, delete."""
        if method == "DELETE":
            ids = [i for i in params.get("ids", "").split(",") if i]
            all_or_none = params.get("allOrNone", "false").lower() == "true"
            records: list[Any] = [{"Id": i} for i in ids]
        else:
            payload = _mapping(body)
            records = list(payload.get("records") or [])
            all_or_none = bool(payload.get("allOrNone", False))
        if len(records) > MAX_COLLECTION:
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records in this operation",
            )
        plans = [self._plan(method, record, upsert) for record in records]
        failed = any(isinstance(p, RecordError) for p in plans)
        results: list[dict[str, Any]] = []
        for record, plan in zip(records, plans, strict=True):
            rid = record.get("Id") if isinstance(record, dict) else None
            if isinstance(plan, RecordError):
                results.append(_failure(rid, plan))
            elif all_or_none and failed:
                rollback = RecordError("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back")
                results.append(_failure(rid, rollback))
            else:
                try:
                    results.append(plan())
                except RecordError as error:
                    results.append(_failure(rid, error))
        return results

    def _plan(
        self, method: str, record: Any, upsert: tuple[str, str] | None
    ) -> RecordError | Callable[[], dict[str, Any]]:
        """Validate one record; return the write to do, or the error to report."""
        if not isinstance(record, dict):
            return RecordError("JSON_PARSER_ERROR", "each record must be an object")
        try:
            if method == "DELETE":
                target = str(record["Id"])
                found = self._find_by_id(target)
                self._check_lock(target)
                return lambda: _success(self.store.delete(found.name, target))
            name = (record.get("attributes") or {}).get("type") or (upsert or ("",))[0]
            obj = self.store.get_object(str(name))
            if obj is None:
                raise RecordError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
            if upsert is not None:
                return self._plan_upsert(obj, record, upsert[1])
            if method == "PATCH":
                target = str(record.get("Id") or "")
                if not target:
                    raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call")
                self.store.clean(obj, record, creating=False)
                self._validate(obj, record)
                self._check_lock(target)
                return lambda: _success(self.store.update(obj.name, target, record))
            self.store.clean(obj, record, creating=True)
            self._check_lock("new record")
            return lambda: _success(self.store.create(obj.name, record))
        except RecordError as error:
            return error

    def _plan_upsert(
        self, obj: ObjectDef, record: dict[str, Any], key: str
    ) -> Callable[[], dict[str, Any]]:
        spec = obj.field(key)
        if spec is None or not spec.external_id:
            raise RecordError("INVALID_FIELD", f"{key} is not an external id field of {obj.name}")
        value = record.get(spec.name)
        if value in (None, ""):
            raise RecordError("MISSING_ARGUMENT", f"{spec.name} not specified", [spec.name])
        matches = self.store.find(obj, spec.name, value)
        if len(matches) > 1:
            raise RecordError("DUPLICATE_EXTERNAL_ID", f"{spec.name}: more than one record found")
        self.store.clean(obj, record, creating=not matches)
        self._validate(obj, record)
        self._check_lock(str(value))

        def apply() -> dict[str, Any]:
            again = self.store.find(obj, spec.name, value)
            if again:
                return {**_success(self.store.update(obj.name, again[0], record)), "created": False}
            return {**_success(self.store.create(obj.name, record)), "created": True}

        return apply

    def _find_by_id(self, rid: str) -> ObjectDef:
        obj = next(
            (o for o in self.store.objects.values() if o.prefix and rid.startswith(o.prefix)),
            None,
        )
        if obj is None:
            raise RecordError("MALFORMED_ID", f"malformed id {rid}")
        return obj

    def _check_lock(self, what: str) -> None:
        if self.faults.record_fails():
            raise RecordError(
                "UNABLE_TO_LOCK_ROW",
                f"unable to obtain exclusive access to this record or 1 records: {what}",
            )

    # -- metadata (Tooling API) -------------------------------------------------------

    def create_custom_field(self, body: Any) -> dict[str, Any]:
        payload = _mapping(body)
        full_name = str(payload.get("FullName", ""))
        obj_name, _, field_name = full_name.partition(".")
        obj = self.store.get_object(obj_name)
        if obj is None or not field_name.endswith("__c"):
            raise ApiError(
                400, "FIELD_INTEGRITY_EXCEPTION", f"invalid custom field name: {full_name}", []
            )
        if obj.field(field_name) is not None:
            raise ApiError(
                400,
                "DUPLICATE_DEVELOPER_NAME",
                f"Duplicate Developer Name: {field_name} already exists on {obj.name}",
                [],
            )
        try:
            spec = custom_field(field_name, _mapping(payload.get("Metadata")))
        except RecordError as error:
            raise ApiError(400, error.code, error.message, error.fields) from error
        self.store.add_field(obj, spec)
        return {"id": f"00N5g{next(self._ids):010d}AAA", "success": True, "errors": []}

    def create_custom_object(self, body: Any) -> dict[str, Any]:
        payload = _mapping(body)
        name = str(payload.get("FullName", ""))
        if not name.endswith("__c"):
            raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", f"invalid object name: {name}", [])
        if self.store.get_object(name) is not None:
            raise ApiError(400, "DUPLICATE_DEVELOPER_NAME", f"Duplicate Developer Name: {name}", [])
        label = str(_mapping(payload.get("Metadata")).get("label") or name)
        self.store.add_object(name, label)
        return {"id": f"01I5g{next(self._ids):010d}AAA", "success": True, "errors": []}

    # -- what users do in the Salesforce UI -------------------------------------------

    def convert_lead(self, lead_id: str, account_id: str | None = None) -> dict[str, str]:
        """Convert a lead: create (or reuse) an account, create a contact, mark the lead.

        The contact (and a new account) get the lead's values through Salesforce's
        standard lead field mapping, e.g. Country -> MailingCountry / BillingCountry,
        and the lead's owner.
        """
        leads = self.store.objects["Lead"]
        lead = self.store.get(leads, lead_id)
        if lead is None:
            raise ApiError(404, "NOT_FOUND", f"no lead {lead_id}")
        if lead["IsConverted"]:
            raise ApiError(400, "CANNOT_UPDATE_CONVERTED_LEAD", "lead is already converted")
        if account_id is None:
            account_id = self.store.create(
                "Account", {"Name": lead["Company"], **_mapped(lead, _LEAD_TO_ACCOUNT)}
            )
        contact_id = self.store.create(
            "Contact",
            {
                "AccountId": account_id,
                "FirstName": lead["FirstName"],
                "LastName": lead["LastName"],
                "Email": lead["Email"],
                "Title": lead["Title"],
                **_mapped(lead, _LEAD_TO_CONTACT),
            },
        )
        self.store.update(
            "Lead",
            str(lead["Id"]),
            {
                "IsConverted": True,
                "ConvertedDate": self.store.clock().date().isoformat(),
                "ConvertedAccountId": account_id,
                "ConvertedContactId": contact_id,
                "Status": "Closed - Converted",
            },
            trusted=True,
        )
        return {"leadId": str(lead["Id"]), "accountId": account_id, "contactId": contact_id}

    def merge(self, obj_name: str, master_id: str, duplicate_ids: list[str]) -> dict[str, Any]:
        """Merge duplicates into ``master_id``: they are deleted with MasterRecordId set."""
        obj = self._object(obj_name)
        if self.store.get(obj, master_id) is None:
            raise ApiError(404, "NOT_FOUND", f"no {obj.name} {master_id}")
        merged = [self.store.delete(obj.name, d, master_id=master_id) for d in duplicate_ids]
        self.store.update(obj.name, master_id, {})
        return {"id": master_id, "mergedRecordIds": merged}


# Salesforce's standard lead field mapping (lead field -> field of the converted record).
_LEAD_TO_CONTACT = {
    "Phone": "Phone",
    "LeadSource": "LeadSource",
    "Country": "MailingCountry",
    "HasOptedOutOfEmail": "HasOptedOutOfEmail",
    "Description": "Description",
    "OwnerId": "OwnerId",
}
_LEAD_TO_ACCOUNT = {
    "Website": "Website",
    "Industry": "Industry",
    "NumberOfEmployees": "NumberOfEmployees",
    "AnnualRevenue": "AnnualRevenue",
    "Country": "BillingCountry",
    "State": "BillingState",
    "City": "BillingCity",
    "OwnerId": "OwnerId",
}


def _mapped(lead: Record, fields: dict[str, str]) -> dict[str, Any]:
    """The lead's non-empty values under the converted record's field names."""
    return {
        target: lead[source] for source, target in fields.items() if lead.get(source) is not None
    }


def _mapping(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "the request body must be a JSON object")
    return body


def _success(rid: str) -> dict[str, Any]:
    return {"id": rid, "success": True, "errors": []}


def _failure(rid: Any, error: RecordError) -> dict[str, Any]:
    result: dict[str, Any] = {"success": False, "errors": [error.as_json()]}
    if rid:
        result["id"] = rid
    return result


def render_fault(kind: str, detail: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Salesforce-shaped bodies for :class:`FaultMiddleware`."""
    status, code = {
        "rate_limit": (429, "REQUEST_LIMIT_EXCEEDED"),
        "server_error": (503, "SERVER_UNAVAILABLE"),
        "token_expiry": (401, "INVALID_SESSION_ID"),
    }.get(kind, (500, "UNKNOWN_EXCEPTION"))
    message = "Session expired or invalid" if kind == "token_expiry" else detail
    body = json.dumps([{"message": message, "errorCode": code}]).encode()
    return status, [(b"content-type", b"application/json;charset=UTF-8")], body


def create_app(
    faults: Faults | None = None,
    *,
    seed_data: dict[str, list[dict[str, Any]]] | None = None,
    api_version: str = "62.0",
    config: SandboxConfig | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """A Starlette app emulating one Salesforce org; ``app.state.sandbox`` is its state."""
    faults = faults or Faults()
    config = config or SandboxConfig(api_version=api_version)
    sandbox = SalesforceSandbox(config, faults, clock)
    for obj_name, records in (seed_data or {}).items():
        for record in records:
            sandbox.store.create(obj_name, record, trusted=True)

    async def convert_lead(request: Request) -> Response:
        payload = await request.json()
        try:
            return JSONResponse(sandbox.convert_lead(payload["leadId"], payload.get("accountId")))
        except ApiError as error:
            return JSONResponse(error.body, status_code=error.status)

    async def merge(request: Request) -> Response:
        payload = await request.json()
        try:
            merged = sandbox.merge(payload["object"], payload["masterId"], payload["duplicateIds"])
        except (ApiError, RecordError) as error:
            status = getattr(error, "status", 400)
            return JSONResponse(getattr(error, "body", str(error)), status_code=status)
        return JSONResponse(merged)

    bulk = BulkJobs(sandbox)
    bulk_v1 = BulkV1Jobs(sandbox)
    routes = [
        *oauth_routes(sandbox.oauth),
        Route(
            "/services/data/{version}/jobs/{rest:path}",
            bulk.endpoint,
            methods=["GET", "POST", "PATCH", "DELETE", "PUT"],
        ),
        Route(
            "/services/data/{rest:path}",
            rest.data_endpoint(sandbox),
            methods=["GET", "POST", "PATCH", "DELETE", "PUT"],
        ),
        Route("/services/async/{version}/{rest:path}", bulk_v1.endpoint, methods=["GET", "POST"]),
        Route("/__sandbox/convert_lead", convert_lead, methods=["POST"]),
        Route("/__sandbox/merge", merge, methods=["POST"]),
    ]
    middleware = [Middleware(FaultMiddleware, faults=faults, render=render_fault)]
    # Starlette's own 404/405 become Salesforce JSON errors.
    handlers = {404: rest.services_http_error, 405: rest.services_http_error}
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)
    app.state.sandbox = sandbox
    app.state.bulk = bulk
    app.state.bulk_v1 = bulk_v1
    return app
