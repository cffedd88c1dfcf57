"""Application API: custom objects (``/assets/customObject(s)``) and their instances
(``/data/customObject/{parentId}/instance(s)``), REST 1.0 and 2.0.

A ``CustomObject`` lists its ``fields`` (``CustomObjectField``: name,
dataType text | largeText | numeric | date, displayType, internalName); an
instance is ``CustomObjectData`` with ``contactId`` and ``fieldValues``
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/op-api-rest-2.0-assets-customobject-post.html,
https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/op-api-rest-2.0-data-customobject-parentid-instances-get.html).

Guesses:
- A new custom object's field internal names follow the contact field rule
  without prefix (``Touchpoint Key`` -> ``Touchpoint_Key1``).
- ``isMapped`` is ``"Yes"`` when the instance is linked to a contact.
- Instances are searched by field internal name, ``contactId``, ``id``,
  ``createdAt`` and ``updatedAt``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from abmsync.sandbox.eloqua import errors
from abmsync.sandbox.eloqua.fields import REST_TYPES
from abmsync.sandbox.eloqua.formats import unix_seconds
from abmsync.sandbox.eloqua.records import CustomObject, Instance
from abmsync.sandbox.eloqua.rest import REST, depth_of, rest_value
from abmsync.sandbox.eloqua.routing import Call, Router, json_response, rest_page, rest_paging
from abmsync.sandbox.eloqua.search import matcher
from abmsync.sandbox.eloqua.store import EloquaStore, coerce


def object_json(found: CustomObject, depth: str) -> dict[str, Any]:
    """A ``CustomObject`` at ``depth``."""
    stamp = unix_seconds(found.created_at)
    body: dict[str, Any] = {
        "type": "CustomObject",
        "id": str(found.id),
        "createdAt": stamp,
        "depth": depth,
        "name": found.name,
        "updatedAt": stamp,
    }
    if depth != "minimal":
        body["fields"] = [
            {
                "type": "CustomObjectField",
                "id": str(f.id),
                "depth": depth,
                "name": f.name,
                "dataType": f.data_type,
                "displayType": f.display_type,
                "internalName": f.internal_name,
            }
            for f in found.fields.values()
        ]
    return body


def instance_json(parent: CustomObject, instance: Instance, depth: str) -> dict[str, Any]:
    """A ``CustomObjectData`` at ``depth``."""
    body: dict[str, Any] = {
        "type": "CustomObjectData",
        "id": str(instance.id),
        "createdAt": unix_seconds(instance.created_at),
        "depth": depth,
        "updatedAt": unix_seconds(instance.updated_at),
    }
    if instance.contact_id is not None:
        body["contactId"] = str(instance.contact_id)
    if depth != "minimal":
        body["isMapped"] = "Yes" if instance.contact_id is not None else "No"
    if depth == "complete":
        values = []
        for made in parent.fields.values():
            entry = {"type": "FieldValue", "id": str(made.id)}
            if instance.values.get(made.id) is not None:
                entry["value"] = rest_value(instance.values[made.id])
            values.append(entry)
        body["fieldValues"] = values
    return body


class RestObjects:
    """Custom objects and instances over one store."""

    def __init__(self, store: EloquaStore) -> None:
        self.store = store

    def _parent(self, call: Call, name: str = "id") -> CustomObject:
        found = self.store.custom_objects.get(call.id(name))
        if found is None:
            raise errors.not_found()
        return found

    def list_objects(self, call: Call) -> Response:
        """``GET /assets/customObjects``."""
        page, count = rest_paging(call.query)
        depth = depth_of(call, "minimal")

        def value_of(term: str, found: CustomObject | None) -> tuple[bool, Any]:
            if term.lower() not in ("name", "id"):
                return False, None
            return True, None if found is None else getattr(found, term.lower())

        check = matcher(call.query.get("search"), value_of, lambda o: [o.name])
        with self.store.lock:
            listed = [o for o in self.store.custom_objects.values() if check(o)]
            chosen = rest_page(listed, page, count)
            chosen["elements"] = [object_json(o, depth) for o in chosen["elements"]]
        return json_response(chosen)

    def get_object(self, call: Call) -> Response:
        """``GET /assets/customObject/{id}``."""
        with self.store.lock:
            return json_response(object_json(self._parent(call), depth_of(call, "complete")))

    def create_object(self, call: Call) -> Response:
        """``POST /assets/customObject``: 201 with fields and their internal names."""
        body = call.object()
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise errors.object_error("CustomObject", "name", "NotNullRequirement")
        fields = body.get("fields") or []
        if not isinstance(fields, list):
            raise errors.object_error("CustomObject", "fields", "ValidValueRequirement")
        for entry in fields:
            if not isinstance(entry, dict) or not entry.get("name"):
                raise errors.object_error("CustomObjectField", "name", "NotNullRequirement")
            if entry.get("dataType", "text") not in REST_TYPES:
                raise errors.object_error(
                    "CustomObjectField", "dataType", "ValidValueRequirement", entry.get("dataType")
                )
        with self.store.lock:
            if self.store.custom_object_id(name) is not None:
                raise errors.object_error("CustomObject", "name", "UniquenessRequirement", name)
            object_id = self.store.add_custom_object(
                name.strip(), [(str(f["name"]), str(f.get("dataType", "text"))) for f in fields]
            )
            return json_response(object_json(self.store.custom_objects[object_id], "complete"), 201)

    def update_object(self, call: Call) -> Response:
        """``PUT /assets/customObject/{id}``: rename; fields without an id are added."""
        body = call.object()
        with self.store.lock:
            found = self._parent(call)
            if isinstance(body.get("name"), str) and body["name"].strip():
                found.name = body["name"].strip()
            for entry in body.get("fields") or []:
                if not isinstance(entry, dict) or entry.get("id"):
                    continue
                if not entry.get("name") or entry.get("dataType", "text") not in REST_TYPES:
                    raise errors.object_error(
                        "CustomObjectField", "dataType", "ValidValueRequirement", entry
                    )
                self.store.add_custom_object_field(
                    found.id, str(entry["name"]), str(entry.get("dataType", "text"))
                )
            return json_response(object_json(found, "complete"))

    # -- instances -------------------------------------------------------------------

    def list_instances(self, call: Call) -> Response:
        """``GET /data/customObject/{parentId}/instances``."""
        page, count = rest_paging(call.query)
        depth = depth_of(call, "minimal")
        with self.store.lock:
            parent = self._parent(call, "parent")

            def value_of(term: str, found: Instance | None) -> tuple[bool, Any]:
                special = {
                    "id": "id",
                    "contactid": "contact_id",
                    "createdat": "created_at",
                    "updatedat": "updated_at",
                }
                if term.lower() in special:
                    return True, None if found is None else getattr(found, special[term.lower()])
                made = parent.field_named(term)
                if made is None:
                    return False, None
                return True, None if found is None else found.values.get(made.id)

            check = matcher(call.query.get("search"), value_of, lambda i: list(i.values.values()))
            listed = [
                parent.instances[k] for k in sorted(parent.instances) if check(parent.instances[k])
            ]
            chosen = rest_page(listed, page, count)
            chosen["elements"] = [instance_json(parent, i, depth) for i in chosen["elements"]]
        return json_response(chosen)

    def _instance(self, call: Call) -> tuple[CustomObject, Instance]:
        parent = self._parent(call, "parent")
        found = parent.instances.get(call.id())
        if found is None:
            raise errors.not_found()
        return parent, found

    def get_instance(self, call: Call) -> Response:
        """``GET /data/customObject/{parentId}/instance/{id}``."""
        with self.store.lock:
            parent, found = self._instance(call)
            return json_response(instance_json(parent, found, depth_of(call, "complete")))

    def _values(self, parent: CustomObject, body: Mapping[str, Any]) -> dict[int, Any]:
        values: dict[int, Any] = {}
        for entry in body.get("fieldValues") or []:
            raw_id = str(entry.get("id", ""))
            made = parent.fields.get(int(raw_id)) if raw_id.isdigit() else None
            if made is None:
                raise errors.object_error("FieldValue", "id", "ReferenceRequirement", raw_id)
            try:
                values[made.id] = coerce(made.data_type, entry.get("value"))
            except ValueError:
                raise errors.object_error(
                    "FieldValue", "value", "ValidValueRequirement", entry.get("value")
                ) from None
        return values

    def _contact(self, body: Mapping[str, Any]) -> int | None:
        raw = body.get("contactId")
        if raw in (None, ""):
            return None
        if not str(raw).isdigit() or int(str(raw)) not in self.store.contacts:
            raise errors.object_error("CustomObjectData", "contactId", "ReferenceRequirement", raw)
        return int(str(raw))

    def create_instance(self, call: Call) -> Response:
        """``POST /data/customObject/{parentId}/instance``: 201."""
        body = call.object()
        with self.store.lock:
            parent = self._parent(call, "parent")
            made = self.store.create_instance(
                parent.id, self._values(parent, body), self._contact(body)
            )
            return json_response(instance_json(parent, made, "complete"), 201)

    def update_instance(self, call: Call) -> Response:
        """``PUT /data/customObject/{parentId}/instance/{id}``: 200."""
        body = call.object()
        with self.store.lock:
            parent, found = self._instance(call)
            for field_id, value in self._values(parent, body).items():
                if value is None:
                    found.values.pop(field_id, None)
                else:
                    found.values[field_id] = value
            if "contactId" in body:
                found.contact_id = self._contact(body)
            found.updated_at = self.store.now()
            return json_response(instance_json(parent, found, "complete"))

    def delete_instance(self, call: Call) -> Response:
        """``DELETE /data/customObject/{parentId}/instance/{id}``: 200."""
        with self.store.lock:
            parent, found = self._instance(call)
            del parent.instances[found.id]
        return Response(status_code=200)

    def register(self, router: Router) -> None:
        """Add the custom object routes."""
        router.add("GET", f"{REST}/assets/customObjects", self.list_objects)
        router.add("GET", f"{REST}/assets/customObject/{{id}}", self.get_object)
        router.add("POST", f"{REST}/assets/customObject", self.create_object)
        router.add("PUT", f"{REST}/assets/customObject/{{id}}", self.update_object)
        data = f"{REST}/data/customObject/{{parent}}"
        router.add("GET", f"{data}/instances", self.list_instances)
        router.add("GET", f"{data}/instance/{{id}}", self.get_instance)
        router.add("POST", f"{data}/instance", self.create_instance)
        router.add("PUT", f"{data}/instance/{{id}}", self.update_instance)
        router.add("DELETE", f"{data}/instance/{{id}}", self.delete_instance)
