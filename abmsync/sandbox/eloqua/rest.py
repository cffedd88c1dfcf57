"""Application (REST) API 1.0/2.0: contacts, accounts and contact fields.

Lists answer ``{"elements", "page", "pageSize", "total"}`` with ``page`` from 1
and ``count`` 1..1000; ``depth`` is minimal (lists' default), partial or
complete (single records' default); root properties without a value are left
out; ids and dates are strings (dates as Unix seconds); ``fieldValues`` (at
complete depth) are ``{"type": "FieldValue", "id", "value"}``
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/APIRequests_RequestDepth.html,
https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/op-api-rest-1.0-data-contacts-get.html).
``POST /assets/contact/field`` answers 201 with the new ``ContactField``
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/op-api-rest-1.0-assets-contact-field-post.html).

Guesses:
- ``fieldValues`` list every field; a field without a value has no ``value``.
- A contact's ``accountName`` is its linked account's company name, else ``C_Company``.
- Creating a contact with an email address in use answers 409 with a
  ``UniquenessRequirement`` error; a duplicate field name answers 400.
- An unknown ``depth`` is treated as minimal (lists) or complete (one record).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from abmsync.sandbox.eloqua import errors
from abmsync.sandbox.eloqua.fields import EMAIL, REST_TYPES, FieldDef, render_contact_field
from abmsync.sandbox.eloqua.formats import number_text, unix_seconds
from abmsync.sandbox.eloqua.records import Record
from abmsync.sandbox.eloqua.routing import Call, Router, json_response, rest_page, rest_paging
from abmsync.sandbox.eloqua.search import matcher
from abmsync.sandbox.eloqua.store import EloquaStore

REST = r"/api/rest/(?P<version>[12]\.0)"
DEPTHS = ("minimal", "partial", "complete")
# REST property -> internal name, per entity
CONTACT_PROPERTIES = {
    "emailAddress": "C_EmailAddress",
    "firstName": "C_FirstName",
    "lastName": "C_LastName",
    "title": "C_Title",
    "businessPhone": "C_BusPhone",
    "mobilePhone": "C_MobilePhone",
    "fax": "C_Fax",
    "address1": "C_Address1",
    "address2": "C_Address2",
    "city": "C_City",
    "province": "C_State_Prov",
    "postalCode": "C_Zip_Postal",
    "country": "C_Country",
    "salesPerson": "C_Salesperson",
}
ACCOUNT_PROPERTIES = {
    "name": "M_CompanyName",
    "address1": "M_Address1",
    "city": "M_City",
    "province": "M_State_Prov",
    "postalCode": "M_Zip_Postal",
    "country": "M_Country",
    "businessPhone": "M_BusPhone",
}


def depth_of(call: Call, default: str) -> str:
    """The requested depth; anything unknown falls back to ``default``."""
    wanted = call.query.get("depth", default).lower()
    return wanted if wanted in DEPTHS else default


def rest_value(value: Any) -> str:
    """A field value as the application API writes it."""
    if hasattr(value, "timestamp"):
        return unix_seconds(value)
    if isinstance(value, int | float):
        return number_text(value)
    return str(value)


def field_values(fields: Mapping[str, FieldDef], record: Record) -> list[dict[str, str]]:
    """``fieldValues`` of a contact or account, every field in id order."""
    listed = []
    for definition in sorted(fields.values(), key=lambda f: f.id):
        entry = {"type": "FieldValue", "id": str(definition.id)}
        value = record.values.get(definition.internal_name)
        if value is not None:
            entry["value"] = rest_value(value)
        listed.append(entry)
    return listed


class RestApi:
    """Contacts, accounts and contact fields over one store."""

    def __init__(self, store: EloquaStore) -> None:
        self.store = store

    # -- rendering -------------------------------------------------------------------

    def contact_json(self, record: Record, depth: str) -> dict[str, Any]:
        """A ``Contact`` at ``depth``."""
        values = record.values
        body: dict[str, Any] = {
            "type": "Contact",
            "id": str(record.id),
            "createdAt": unix_seconds(values["C_DateCreated"]),
            "depth": depth,
            "name": values.get("C_EmailAddress"),
            "updatedAt": unix_seconds(values["C_DateModified"]),
            "emailAddress": values.get("C_EmailAddress"),
        }
        if depth != "minimal":
            account = self.store.accounts.get(record.account_id or 0)
            body["currentStatus"] = "Awaiting action"
            body["accountId"] = None if account is None else str(account.id)
            body["accountName"] = (
                values.get("C_Company") if account is None else account.values.get("M_CompanyName")
            )
            body["emailFormatPreference"] = "unspecified"
            body["isSubscribed"] = str(record.subscribed).lower()
            body["isBounceback"] = str(record.bounced).lower()
            for prop, internal in CONTACT_PROPERTIES.items():
                body[prop] = values.get(internal)
        if depth == "complete":
            body["fieldValues"] = field_values(self.store.contact_fields, record)
        return {k: v for k, v in body.items() if v is not None}

    def account_json(self, record: Record, depth: str) -> dict[str, Any]:
        """An ``Account`` at ``depth``."""
        values = record.values
        body: dict[str, Any] = {
            "type": "Account",
            "id": str(record.id),
            "createdAt": unix_seconds(values["M_DateCreated"]),
            "depth": depth,
            "name": values.get("M_CompanyName"),
            "updatedAt": unix_seconds(values["M_DateModified"]),
        }
        if depth != "minimal":
            for prop, internal in ACCOUNT_PROPERTIES.items():
                body[prop] = values.get(internal)
        if depth == "complete":
            body["fieldValues"] = field_values(self.store.account_fields, record)
        return {k: v for k, v in body.items() if v is not None}

    # -- contacts and accounts -------------------------------------------------------

    def _entity(self, call: Call) -> str:
        return "contact" if "/contact" in call.path.lower() else "account"

    def _value_of(self, entity: str) -> Any:
        fields = self.store.contact_fields if entity == "contact" else self.store.account_fields
        properties = CONTACT_PROPERTIES if entity == "contact" else ACCOUNT_PROPERTIES
        stamps = (
            ("C_DateCreated", "C_DateModified")
            if entity == "contact"
            else ("M_DateCreated", "M_DateModified")
        )
        names = {k.lower(): v for k, v in properties.items()}
        names.update(
            {
                "createdat": stamps[0],
                "updatedat": stamps[1],
                "name": properties.get("name", "C_EmailAddress"),
            }
        )
        names.update({k.lower(): k for k in fields})

        def value_of(term: str, record: Record | None) -> tuple[bool, Any]:
            if term.lower() == "id":
                return True, None if record is None else record.id
            internal = names.get(term.lower())
            if internal is None:
                return False, None
            return True, None if record is None else record.values.get(internal)

        return value_of

    def list_records(self, call: Call) -> Response:
        """``GET /data/contacts`` and ``/data/accounts``."""
        page, count = rest_paging(call.query)
        entity = self._entity(call)
        depth = depth_of(call, "minimal")
        bare: tuple[str, ...] = ("M_CompanyName",)
        if entity == "contact":
            bare = ("C_EmailAddress", "C_FirstName", "C_LastName")
        check = matcher(
            call.query.get("search"),
            self._value_of(entity),
            lambda r: [r.values.get(name) for name in bare],
        )
        with self.store.lock:
            table = self.store.contacts if entity == "contact" else self.store.accounts
            since = call.query.get("lastUpdatedAt")
            records = [table[k] for k in sorted(table) if check(table[k])]
            if since and since.isdigit():
                stamp = "C_DateModified" if entity == "contact" else "M_DateModified"
                records = [r for r in records if r.values[stamp].timestamp() >= int(since)]
            render = self.contact_json if entity == "contact" else self.account_json
            chosen = rest_page(records, page, count)
            chosen["elements"] = [render(r, depth) for r in chosen["elements"]]
        return json_response(chosen)

    def _record(self, call: Call) -> tuple[str, Record]:
        entity, record_id = self._entity(call), call.id()
        table = self.store.contacts if entity == "contact" else self.store.accounts
        record = table.get(record_id)
        if record is None:
            raise errors.not_found()
        return entity, record

    def get_record(self, call: Call) -> Response:
        """``GET /data/contact/{id}`` and ``/data/account/{id}``."""
        depth = depth_of(call, "complete")
        with self.store.lock:
            entity, record = self._record(call)
            render = self.contact_json if entity == "contact" else self.account_json
            return json_response(render(record, depth))

    def _clean(self, entity: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Values from a REST body: root properties and ``fieldValues`` by field id."""
        properties = CONTACT_PROPERTIES if entity == "contact" else ACCOUNT_PROPERTIES
        fields = self.store.contact_fields if entity == "contact" else self.store.account_fields
        by_id = {str(f.id): f for f in fields.values()}
        raw: dict[str, Any] = {properties[k]: v for k, v in body.items() if k in properties}
        for entry in body.get("fieldValues") or []:
            found = by_id.get(str(entry.get("id")))
            if found is None:
                raise errors.object_error(
                    "FieldValue", "id", "ReferenceRequirement", entry.get("id")
                )
            if not found.is_read_only:
                raw[found.internal_name] = entry.get("value")
        object_type = "Contact" if entity == "contact" else "Account"
        try:
            return self.store.clean_values(entity, raw)
        except ValueError as exc:
            raise errors.object_error(
                object_type, "fieldValues", "ValidValueRequirement", str(exc)
            ) from None

    def create_record(self, call: Call) -> Response:
        """``POST /data/contact`` or ``/data/account``: 201 with the record."""
        entity = self._entity(call)
        body = call.object()
        with self.store.lock:
            clean = self._clean(entity, body)
            self._check_required(entity, clean, None)
            record = self.store.create_record(entity, clean)
            render = self.contact_json if entity == "contact" else self.account_json
            return json_response(render(record, "complete"), 201)

    def _check_required(
        self, entity: str, clean: Mapping[str, Any], current: Record | None
    ) -> None:
        if entity == "account":
            if current is None and not clean.get("M_CompanyName"):
                raise errors.object_error("Account", "name", "NotNullRequirement")
            return
        email = clean.get(
            "C_EmailAddress", None if current is None else current.values.get("C_EmailAddress")
        )
        if not email:
            raise errors.object_error("Contact", "emailAddress", "NotNullRequirement")
        if not EMAIL.match(email):
            raise errors.object_error("Contact", "emailAddress", "EmailAddressRequirement", email)
        clash = [
            i
            for i in self.store.find_contacts("C_EmailAddress", email)
            if current is None or i != current.id
        ]
        if clash:
            error = errors.object_error("Contact", "emailAddress", "UniquenessRequirement", email)
            error.status = 409
            raise error

    def update_record(self, call: Call) -> Response:
        """``PUT /data/contact/{id}`` or ``/data/account/{id}``: 200 with the record."""
        body = call.object()
        with self.store.lock:
            entity, record = self._record(call)
            clean = self._clean(entity, body)
            self._check_required(entity, clean, record)
            self.store.write_values(entity, record, clean)
            render = self.contact_json if entity == "contact" else self.account_json
            return json_response(render(record, "complete"))

    def delete_record(self, call: Call) -> Response:
        """``DELETE /data/contact/{id}`` or ``/data/account/{id}``: 204, as the spec declares."""
        with self.store.lock:
            entity, record = self._record(call)
            if entity == "contact":
                self.store.delete_contact(record.id)
            else:
                self.store.delete_account(record.id)
        return Response(status_code=204)

    # -- contact fields --------------------------------------------------------------

    def list_contact_fields(self, call: Call) -> Response:
        """``GET /assets/contact/fields``."""
        page, count = rest_paging(call.query)
        depth = depth_of(call, "minimal")
        props = {
            "name": "name",
            "internalname": "internal_name",
            "datatype": "data_type",
            "id": "id",
        }

        def value_of(term: str, found: FieldDef | None) -> tuple[bool, Any]:
            attribute = props.get(term.lower())
            if attribute is None:
                return False, None
            return True, None if found is None else getattr(found, attribute)

        check = matcher(call.query.get("search"), value_of, lambda f: [f.name])
        with self.store.lock:
            fields = [
                f
                for f in sorted(self.store.contact_fields.values(), key=lambda f: f.id)
                if check(f)
            ]
        chosen = rest_page(fields, page, count)
        chosen["elements"] = [render_contact_field(f, depth) for f in chosen["elements"]]
        return json_response(chosen)

    def get_contact_field(self, call: Call) -> Response:
        """``GET /assets/contact/field/{id}``."""
        field_id = call.id()
        found = next((f for f in self.store.contact_fields.values() if f.id == field_id), None)
        if found is None:
            raise errors.not_found()
        return json_response(render_contact_field(found, depth_of(call, "complete")))

    def create_contact_field(self, call: Call) -> Response:
        """``POST /assets/contact/field``: 201 with the field and its generated internal name."""
        body = call.object()
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise errors.object_error("ContactField", "name", "NotNullRequirement")
        if len(name) > 100:
            raise errors.object_error("ContactField", "name", "ValidTextLengthRequirement", name)
        data_type = body.get("dataType")
        if data_type not in REST_TYPES:
            raise errors.object_error(
                "ContactField", "dataType", "ValidValueRequirement", data_type
            )
        update_type = body.get("updateType", "always")
        if update_type not in ("always", "ifNewIsNotNull", "ifExistingIsNull", "newEntriesOnly"):
            raise errors.object_error(
                "ContactField", "updateType", "ValidValueRequirement", update_type
            )
        try:
            made = self.store.create_field(
                "contact",
                name.strip(),
                data_type,
                str(body.get("displayType") or "text"),
                update_type,
                None,
                call.user or None,
            )
        except ValueError:
            raise errors.object_error(
                "ContactField", "name", "UniquenessRequirement", name
            ) from None
        return json_response(render_contact_field(made), 201)

    def register(self, router: Router) -> None:
        """Add the REST routes for contacts, accounts and contact fields."""
        for entity in ("contact", "account"):
            router.add("GET", f"{REST}/data/{entity}s", self.list_records)
            router.add("GET", f"{REST}/data/{entity}/{{id}}", self.get_record)
            router.add("POST", f"{REST}/data/{entity}", self.create_record)
            router.add("PUT", f"{REST}/data/{entity}/{{id}}", self.update_record)
            router.add("DELETE", f"{REST}/data/{entity}/{{id}}", self.delete_record)
        router.add("GET", f"{REST}/assets/contact/fields", self.list_contact_fields)
        router.add("GET", f"{REST}/assets/contact/field/{{id}}", self.get_contact_field)
        router.add("POST", f"{REST}/assets/contact/field", self.create_contact_field)
