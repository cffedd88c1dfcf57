"""Bulk API metadata: contact, account, activity and custom object fields, custom objects,
lead scoring models.

Field items are ``{name, internalName, dataType, hasReadOnlyConstraint,
hasNotNullConstraint, hasUniquenessConstraint, statement, uri, createdAt,
updatedAt}`` (https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Tutorials/FieldsMetadata.htm);
activity fields add ``activityTypes`` and are filtered by ``?activityType=``
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/op-api-bulk-2.0-activities-fields-get.html);
custom object field statements are ``{{CustomObject[9].Field[58]}}`` with uri
``/customObjects/9/fields/58``. Lead scoring models list ``{id, name, status,
fields: [{name: Rating|ProfileScore|EngagementScore, statement:
"{{Contact.LeadScore.Model[1].Rating}}", dataType}], uri}``; their fields are
read-only and only usable in contact exports
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/op-api-bulk-2.0-contacts-scoring-models-get.html).

Guesses:
- ``q`` supports ``term=value`` and ``term!=value`` with ``*`` wildcards on the
  item's top-level properties, case-insensitively.
- Custom object list items carry ``id``, ``name``, ``uri`` and the stamps.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from abmsync.sandbox.eloqua import errors
from abmsync.sandbox.eloqua.fields import (
    ACTIVITY_TYPES,
    FIELD_EPOCH,
    FieldDef,
    activity_field_catalogue,
)
from abmsync.sandbox.eloqua.formats import api_timestamp
from abmsync.sandbox.eloqua.records import CustomObject, CustomObjectField, ScoringModel
from abmsync.sandbox.eloqua.routing import Call, Router, bulk_page, bulk_paging, json_response
from abmsync.sandbox.eloqua.store import EloquaStore

BULK = r"/api/bulk/2\.0"
_QUERY = re.compile(r"\s*'?(\w+)'?\s*(!=|=)\s*'?([^']*)'?\s*")


def field_item(definition: FieldDef, entity: str) -> dict[str, Any]:
    """A contact or account field as the Bulk API lists it."""
    owner = "Contact" if entity == "contacts" else "Account"
    item: dict[str, Any] = {
        "name": definition.name,
        "internalName": definition.internal_name,
        "dataType": definition.bulk_type,
        "hasReadOnlyConstraint": definition.is_read_only,
        "hasNotNullConstraint": definition.not_null,
        "hasUniquenessConstraint": definition.is_unique,
        "statement": f"{{{{{owner}.Field({definition.internal_name})}}}}",
        "uri": f"/{entity}/fields/{definition.id}",
        "createdAt": api_timestamp(definition.created_at),
        "updatedAt": api_timestamp(definition.updated_at),
    }
    if definition.created_by:
        item["createdBy"] = definition.created_by
        item["updatedBy"] = definition.created_by
    return item


def object_field_item(parent: CustomObject, made: CustomObjectField) -> dict[str, Any]:
    """A custom object field as the Bulk API lists it."""
    return {
        "name": made.name,
        "internalName": made.internal_name,
        "dataType": made.bulk_type,
        "hasReadOnlyConstraint": False,
        "hasNotNullConstraint": False,
        "hasUniquenessConstraint": False,
        "statement": f"{{{{CustomObject[{parent.id}].Field[{made.id}]}}}}",
        "uri": f"/customObjects/{parent.id}/fields/{made.id}",
        "createdAt": api_timestamp(parent.created_at),
        "updatedAt": api_timestamp(parent.created_at),
    }


def model_item(model: ScoringModel) -> dict[str, Any]:
    """A lead scoring model as ``/contacts/scoring/models`` lists it."""
    fields = []
    for name, data_type in (
        ("Rating", "string"),
        ("ProfileScore", "number"),
        ("EngagementScore", "number"),
    ):
        fields.append(
            {
                "name": name,
                "internalName": name,
                "statement": f"{{{{Contact.LeadScore.Model[{model.id}].{name}}}}}",
                "dataType": data_type,
                "hasReadOnlyConstraint": True,
                "hasNotNullConstraint": False,
                "hasUniquenessConstraint": False,
            }
        )
    stamp = api_timestamp(model.created_at)
    return {
        "id": model.id,
        "name": model.name,
        "status": model.status,
        "fields": fields,
        "uri": f"/contacts/scoring/models/{model.id}",
        "createdAt": stamp,
        "updatedAt": stamp,
    }


def filtered(items: list[dict[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
    """Items matching ``q`` (see module doc); 400 when ``q`` cannot be read."""
    text = query.get("q")
    if not text:
        return items
    match = _QUERY.fullmatch(text.strip().strip('"'))
    if match is None:
        raise errors.parameter_error("q", {"type": "SearchRequirement"}, text)
    term, op, value = match.groups()
    pattern = value.lower()

    def hit(item: dict[str, Any]) -> bool:
        have = next((v for k, v in item.items() if k.lower() == term.lower()), None)
        matched = have is not None and fnmatch.fnmatchcase(str(have).lower(), pattern)
        return matched if op == "=" else not matched

    return [item for item in items if hit(item)]


class BulkCatalog:
    """The metadata endpoints over one store."""

    def __init__(self, store: EloquaStore) -> None:
        self.store = store

    def _entity_fields(self, call: Call) -> tuple[str, list[FieldDef]]:
        entity = call.params["entity"].lower()
        with self.store.lock:
            found = self.store.contact_fields if entity == "contacts" else self.store.account_fields
            return entity, sorted(found.values(), key=lambda f: f.id)

    def list_fields(self, call: Call) -> Response:
        """``GET /contacts/fields`` and ``/accounts/fields``."""
        paging = bulk_paging(call.query)
        entity, fields = self._entity_fields(call)
        items = filtered([field_item(f, entity) for f in fields], call.query)
        return json_response(bulk_page(items, paging))

    def get_field(self, call: Call) -> Response:
        """``GET /contacts/fields/{id}``."""
        field_id = call.id()
        entity, fields = self._entity_fields(call)
        found = next((f for f in fields if f.id == field_id), None)
        if found is None:
            raise errors.not_found()
        return json_response(field_item(found, entity))

    def list_activity_fields(self, call: Call) -> Response:
        """``GET /activities/fields?activityType=EmailOpen``."""
        paging = bulk_paging(call.query)
        wanted = call.query.get("activityType")
        if wanted is not None and wanted not in ACTIVITY_TYPES:
            raise errors.parameter_error(
                "activityType", {"type": "ActivityTypeRequirement"}, wanted
            )
        items = [
            self._activity_item(found)
            for found in activity_field_catalogue()
            if wanted is None or wanted in found.activity_types
        ]
        return json_response(bulk_page(filtered(items, call.query), paging))

    def get_activity_field(self, call: Call) -> Response:
        """``GET /activities/fields/{id}``."""
        field_id = call.id()
        found = next((f for f in activity_field_catalogue() if f.id == field_id), None)
        if found is None:
            raise errors.not_found()
        return json_response(self._activity_item(found))

    @staticmethod
    def _activity_item(found: Any) -> dict[str, Any]:
        stamp = api_timestamp(FIELD_EPOCH)
        return {
            "name": found.name,
            "internalName": found.name,
            "dataType": found.bulk_type,
            "hasReadOnlyConstraint": True,
            "hasNotNullConstraint": False,
            "hasUniquenessConstraint": found.name == "ActivityId",
            "statement": found.statement,
            "activityTypes": list(found.activity_types),
            "uri": f"/activities/fields/{found.id}",
            "createdAt": stamp,
            "updatedAt": stamp,
        }

    def _custom_object(self, call: Call) -> CustomObject:
        found = self.store.custom_objects.get(call.id("parent"))
        if found is None:
            raise errors.not_found()
        return found

    @staticmethod
    def _object_item(found: CustomObject) -> dict[str, Any]:
        stamp = api_timestamp(found.created_at)
        return {
            "id": found.id,
            "name": found.name,
            "uri": f"/customObjects/{found.id}",
            "createdAt": stamp,
            "updatedAt": stamp,
        }

    def list_custom_objects(self, call: Call) -> Response:
        """``GET /customObjects``."""
        paging = bulk_paging(call.query)
        with self.store.lock:
            items = [self._object_item(o) for o in self.store.custom_objects.values()]
        return json_response(bulk_page(filtered(items, call.query), paging))

    def get_custom_object(self, call: Call) -> Response:
        """``GET /customObjects/{parentId}``."""
        return json_response(self._object_item(self._custom_object(call)))

    def list_object_fields(self, call: Call) -> Response:
        """``GET /customObjects/{parentId}/fields``."""
        paging = bulk_paging(call.query)
        parent = self._custom_object(call)
        with self.store.lock:
            items = [object_field_item(parent, f) for f in parent.fields.values()]
        return json_response(bulk_page(filtered(items, call.query), paging))

    def get_object_field(self, call: Call) -> Response:
        """``GET /customObjects/{parentId}/fields/{id}``."""
        parent = self._custom_object(call)
        found = parent.fields.get(call.id())
        if found is None:
            raise errors.not_found()
        return json_response(object_field_item(parent, found))

    def list_models(self, call: Call) -> Response:
        """``GET /contacts/scoring/models``."""
        paging = bulk_paging(call.query)
        with self.store.lock:
            items = [model_item(m) for m in sorted(self.store.models.values(), key=lambda m: m.id)]
        return json_response(bulk_page(filtered(items, call.query), paging))

    def get_model(self, call: Call) -> Response:
        """``GET /contacts/scoring/models/{id}``."""
        found = self.store.models.get(call.id())
        if found is None:
            raise errors.not_found()
        return json_response(model_item(found))

    def register(self, router: Router) -> None:
        """Add the metadata routes."""
        entity = r"(?P<entity>contacts|accounts)"
        router.add("GET", f"{BULK}/contacts/scoring/models", self.list_models)
        router.add("GET", f"{BULK}/contacts/scoring/models/{{id}}", self.get_model)
        router.add("GET", f"{BULK}/activities/fields", self.list_activity_fields)
        router.add("GET", f"{BULK}/activities/fields/{{id}}", self.get_activity_field)
        router.add("GET", f"{BULK}/{entity}/fields", self.list_fields)
        router.add("GET", f"{BULK}/{entity}/fields/{{id}}", self.get_field)
        router.add("GET", f"{BULK}/customObjects", self.list_custom_objects)
        router.add("GET", f"{BULK}/customObjects/{{parent}}", self.get_custom_object)
        router.add("GET", f"{BULK}/customObjects/{{parent}}/fields", self.list_object_fields)
        router.add("GET", f"{BULK}/customObjects/{{parent}}/fields/{{id}}", self.get_object_field)
