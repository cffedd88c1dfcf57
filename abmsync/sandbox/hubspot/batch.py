"""``POST /crm/v3/objects/{type}/batch/{action}``: HubSpot's batch semantics per action.

- ``create`` is all-or-nothing: the first bad input fails the whole request
  (400 VALIDATION_ERROR, 409 CONFLICT...) and nothing is created, unless every
  input carries its own ``objectWriteTraceId``: then the answer is a 207 that
  creates the good inputs and lists the bad ones ("For the object APIs' batch
  create endpoints, you can enable multi status responses that include partial
  failures ... include a unique objectWriteTraceId value for each input",
  https://developers.hubspot.com/docs/api-reference/error-handling, "Multi-status errors").
- ``read`` answers 207 with an ``OBJECT_NOT_FOUND`` error naming the missing ids
  (https://github.com/HubSpot/hubspot-api-php/issues/619); ``upsert`` answers 207
  with per-input errors (https://github.com/HubSpot/hubspot-api-ruby/issues/403),
  and so does ``update``, whose spec declares the same 200/207 pair.
- ``archive`` answers 204 whatever the ids (the spec declares no other answer).
- More than 100 inputs, or an id twice, is a 400 for the whole request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from abmsync.sandbox.faults import Faults
from abmsync.sandbox.hubspot.bodies import BATCH_SHAPES, query_bool, read_body
from abmsync.sandbox.hubspot.errors import ApiError, RecordError, RecordRejectedError
from abmsync.sandbox.hubspot.records import JSON, iso
from abmsync.sandbox.hubspot.store import BATCH_MAX, DEFAULT_ASSOCIATION_TYPES, HubSpotStore


def association_target(from_obj: str, link: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(to type, to id, type id) for each type of one create input's association."""
    to_id = str(link["to"]["id"])
    found: list[tuple[str, str, int]] = []
    for spec in link.get("types") or []:
        type_id = int(spec["associationTypeId"])
        targets = [
            t for (f, t), k in DEFAULT_ASSOCIATION_TYPES.items() if f == from_obj and k == type_id
        ]
        if not targets:
            raise ApiError(
                400, "VALIDATION_ERROR", f"Unknown association type {type_id} for {to_id}"
            )
        found.append((targets[0], to_id, type_id))
    return found


def check_associations(store: HubSpotStore, obj: str, links: list[Mapping[str, Any]]) -> None:
    """400/404 before anything is written when a create input links to what cannot be."""
    for link in links:
        for to_obj, to_id, _ in association_target(obj, link):
            if store.get(to_obj, to_id) is None:
                raise ApiError(404, "OBJECT_NOT_FOUND", f"No {to_obj} {to_id} to associate with")


def associate_created(store: HubSpotStore, obj: str, record_id: str, links: list[Any]) -> None:
    """Link a just-created record as its create input asked."""
    for link in links:
        for to_obj, to_id, type_id in association_target(obj, link):
            store.associate(obj, record_id, to_obj, to_id, type_id)


class ObjectBatches:
    """The batch endpoints of the CRM object APIs over one store and one fault switchboard."""

    def __init__(self, store: HubSpotStore, faults: Faults) -> None:
        self.store = store
        self.faults = faults

    async def handle(self, request: Request) -> Response:
        """Route ``batch/{action}`` to its HubSpot semantics."""
        obj = self.store.object_type(str(request.path_params["type"]))
        action = str(request.path_params["action"])
        shape = BATCH_SHAPES.get(action)
        if shape is None:
            raise ApiError(404, "OBJECT_NOT_FOUND", f"No batch action {action}")
        query_bool(request.query_params, "archived")
        body = await read_body(request, shape, "BatchInput")
        inputs: list[JSON] = body["inputs"]
        if len(inputs) > BATCH_MAX:
            raise ApiError(
                400,
                "VALIDATION_ERROR",
                f"Batch input size {len(inputs)} exceeds the limit of {BATCH_MAX} inputs",
            )
        if action in ("update", "upsert", "read"):
            keys = [str(item["id"]) for item in inputs]
            duplicates = sorted({k for k in keys if keys.count(k) > 1})
            if duplicates:
                raise ApiError(
                    400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: {duplicates}"
                )
        if action == "archive":
            for item in inputs:
                record = self.store.get(obj, str(item["id"]))
                if record is not None:
                    self.store.archive(obj, record)
            return Response(status_code=204)
        started = iso(self.store.now())
        traces = [item.get("objectWriteTraceId") for item in inputs]
        if action == "create" and (None in traces or len(set(traces)) != len(traces)):
            results = self._create_all(obj, inputs)
            return JSONResponse(self._payload(results, [], started), status_code=201)
        return self._each(obj, action, inputs, body, started)

    def _create_all(self, obj: str, inputs: list[JSON]) -> list[JSON]:
        for item in inputs:
            check_associations(self.store, obj, item.get("associations") or [])
        try:
            records = self.store.create_many(obj, [item["properties"] for item in inputs])
        except RecordRejectedError as rejected:
            raise rejected.error.as_request_error() from None
        results = []
        for item, record in zip(inputs, records, strict=True):
            associate_created(self.store, obj, str(record.id), item.get("associations") or [])
            results.append(self.store.render(obj, record, list(item["properties"])))
        return results

    def _each(
        self, obj: str, action: str, inputs: list[JSON], body: JSON, started: str
    ) -> Response:
        results: list[JSON] = []
        errors: list[JSON] = []
        for item in inputs:
            trace = item.get("objectWriteTraceId")
            key = str(item.get("id", ""))
            try:
                if action != "read" and self.faults.record_fails():
                    raise RecordRejectedError(
                        RecordError(
                            500,
                            "INTERNAL_ERROR",
                            "sandbox fault: this record could not be saved; try again",
                        )
                    )
                result = self._one(obj, action, item, body)
            except RecordRejectedError as rejected:
                errors.append(rejected.error.render([key] if key else [], trace))
                continue
            if trace is not None:
                result["objectWriteTraceId"] = trace
            results.append(result)
        payload = self._payload(results, errors, started)
        if errors:
            return JSONResponse(payload, status_code=207)
        return JSONResponse(payload, status_code=201 if action == "create" else 200)

    def _payload(self, results: list[JSON], errors: list[JSON], started: str) -> JSON:
        payload: JSON = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso(self.store.now()),
        }
        if errors:
            payload["errors"] = errors
            payload["numErrors"] = len(errors)
        return payload

    def _one(self, obj: str, action: str, item: JSON, body: JSON) -> JSON:
        if action == "read":
            return self._read_one(obj, item, body)
        if action == "create":
            links = item.get("associations") or []
            try:
                check_associations(self.store, obj, links)
            except ApiError as refused:
                error = RecordError(refused.status, refused.body["category"], str(refused))
                raise RecordRejectedError(error) from None
            record = self.store.create(obj, item["properties"])
            associate_created(self.store, obj, str(record.id), links)
            return self.store.render(obj, record, list(item["properties"]))
        if action == "update":
            return self._update_one(obj, item)
        return self._upsert_one(obj, item)

    def _read_one(self, obj: str, item: JSON, body: JSON) -> JSON:
        key = str(item["id"])
        record = self.store.get(obj, key, id_property=body.get("idProperty"))
        if record is None:
            raise RecordRejectedError(
                RecordError(
                    404,
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {obj.upper()[:-1]} objects, "
                    "they may be deleted or not exist. Check that ids are valid.",
                )
            )
        return self.store.render(obj, record, body.get("properties") or None)

    def _update_one(self, obj: str, item: JSON) -> JSON:
        key = str(item["id"])
        record = self.store.get(obj, key, id_property=item.get("idProperty"))
        if record is None:
            raise RecordRejectedError(
                RecordError(404, "OBJECT_NOT_FOUND", f"Object {key} was not found")
            )
        self.store.update(obj, record, item["properties"])
        return self.store.render(obj, record, list(item["properties"]))

    def _upsert_one(self, obj: str, item: JSON) -> JSON:
        key = str(item["id"])
        id_property = str(item.get("idProperty") or "hs_object_id")
        values = dict(item["properties"])
        if id_property != "hs_object_id" and id_property not in self.store.unique_properties(obj):
            raise RecordRejectedError(
                RecordError(
                    400,
                    "VALIDATION_ERROR",
                    f"{id_property} is not a unique property and cannot be used as idProperty",
                )
            )
        record = self.store.get(obj, key, id_property=id_property)
        if record is not None:
            self.store.update(obj, record, values)
            new = False
        elif id_property == "hs_object_id":
            missing = RecordError(404, "OBJECT_NOT_FOUND", f"Object {key} not found")
            raise RecordRejectedError(missing)
        else:
            record = self.store.create(obj, {**values, id_property: key})
            new = True
        return {**self.store.render(obj, record, list(values)), "new": new}
