"""CRM v4 associations of the HubSpot emulator: default links, batch create/read/archive.

Answers follow the v4 spec (``/crm/v4/associations/{from}/{to}/batch/...`` and
``/crm/v4/objects/{type}/{id}/associations/...``): ids are strings, batch
create answers 201 (207 with per-pair errors), archive answers 204, at most
2,000 inputs a batch (1,000 for reads).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from abmsync.sandbox.hubspot.bodies import ASSOCIATION_BATCH_SHAPES, read_body
from abmsync.sandbox.hubspot.errors import ApiError, RecordError, RecordRejectedError
from abmsync.sandbox.hubspot.records import JSON, OBJECT_TYPE_IDS, iso
from abmsync.sandbox.hubspot.store import DEFAULT_ASSOCIATION_TYPES, HubSpotStore


class AssociationsV4:
    """The v4 association endpoints over one store."""

    def __init__(self, store: HubSpotStore) -> None:
        self.store = store

    def _obj(self, request: Request, key: str) -> str:
        return self.store.object_type(str(request.path_params[key]))

    async def associate_default(self, request: Request) -> Response:
        params = request.path_params
        from_obj, to_obj = self._obj(request, "from"), self._obj(request, "to")
        result = self._link_default(from_obj, str(params["id"]), to_obj, str(params["to_id"]))
        now = iso(self.store.now())
        return JSONResponse(
            {"status": "COMPLETE", "results": [result], "startedAt": now, "completedAt": now}
        )

    def _link_default(self, from_obj: str, from_id: str, to_obj: str, to_id: str) -> JSON:
        type_id = DEFAULT_ASSOCIATION_TYPES.get((from_obj, to_obj))
        if type_id is None:
            raise ApiError(400, "VALIDATION_ERROR", f"No default association {from_obj}->{to_obj}")
        try:
            self.store.associate(from_obj, from_id, to_obj, to_id, type_id)
        except RecordRejectedError as rejected:
            raise ApiError(404, "OBJECT_NOT_FOUND", rejected.error.message) from None
        return _default_pair(from_id, to_id, type_id)

    async def batch_associate(self, request: Request) -> Response:
        from_obj, to_obj = self._obj(request, "from"), self._obj(request, "to")
        action = str(request.path_params.get("action", "associate"))
        if action not in ("associate", "create", "read"):
            raise ApiError(404, "NOT_FOUND", f"No batch action {action!r} for associations")
        body = await read_body(request, ASSOCIATION_BATCH_SHAPES[action], "BatchInput")
        inputs: list[JSON] = body["inputs"]
        limit = 1000 if action == "read" else 2000
        if len(inputs) > limit:
            raise ApiError(400, "VALIDATION_ERROR", f"At most {limit} inputs per batch")
        now = iso(self.store.now())
        results: list[JSON] = []
        errors: list[JSON] = []
        for item in inputs:
            from_id = str(item["from"]["id"]) if "from" in item else str(item.get("id"))
            try:
                if action == "read":
                    if self.store.get(from_obj, from_id) is None:
                        raise RecordRejectedError(
                            RecordError(404, "OBJECT_NOT_FOUND", f"No {from_obj} {from_id}")
                        )
                    linked = self.store.associations_of(from_obj, from_id, to_obj)
                    results.append({"from": {"id": from_id}, "to": linked})
                    continue
                to_id = str(item["to"]["id"])
                types = item.get("types") or [
                    {
                        "associationCategory": "HUBSPOT_DEFINED",
                        "associationTypeId": DEFAULT_ASSOCIATION_TYPES.get((from_obj, to_obj), 1),
                    }
                ]
                for spec in types:
                    self.store.associate(
                        from_obj, from_id, to_obj, to_id, int(spec["associationTypeId"])
                    )
                results.append(_labels_pair(from_obj, from_id, to_obj, to_id, action))
            except RecordRejectedError as rejected:
                errors.append(rejected.error.render([from_id], None))
        payload: JSON = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": now,
            "completedAt": now,
        }
        if errors:
            payload["errors"] = errors
            payload["numErrors"] = len(errors)
            return JSONResponse(payload, status_code=207)
        return JSONResponse(payload, status_code=201 if action == "create" else 200)

    async def batch_archive(self, request: Request) -> Response:
        """``batch/archive`` unlinks every type between each pair; ``batch/labels/archive``
        only the types named. Both answer 204 with no body, as the v4 spec declares."""
        from_obj, to_obj = self._obj(request, "from"), self._obj(request, "to")
        labels = request.url.path.rstrip("/").endswith("/labels/archive")
        shape = ASSOCIATION_BATCH_SHAPES["labels/archive" if labels else "archive"]
        inputs: list[JSON] = (await read_body(request, shape, "BatchInput"))["inputs"]
        if len(inputs) > 2000:
            raise ApiError(400, "VALIDATION_ERROR", "At most 2000 inputs per batch")
        for item in inputs:
            from_id = str(item["from"]["id"])
            if labels:
                ids = {int(t["associationTypeId"]) for t in item["types"]}
                to_id = str(item["to"]["id"])
                self.store.disassociate(from_obj, from_id, to_obj, to_id, ids)
                continue
            for target in item["to"]:
                self.store.disassociate(from_obj, from_id, to_obj, str(target["id"]))
        return Response(status_code=204)

    async def archive_association(self, request: Request) -> Response:
        """``DELETE /crm/v4/objects/{type}/{id}/associations/{to}/{to_id}``: unlink, 204."""
        params = request.path_params
        from_obj, to_obj = self._obj(request, "from"), self._obj(request, "to")
        self.store.disassociate(from_obj, str(params["id"]), to_obj, str(params["to_id"]))
        return Response(status_code=204)

    async def read_associations(self, request: Request) -> Response:
        from_obj, to_obj = self._obj(request, "from"), self._obj(request, "to")
        from_id = str(request.path_params["id"])
        if self.store.get(from_obj, from_id) is None:
            raise ApiError(404, "OBJECT_NOT_FOUND", f"No {from_obj} {from_id}")
        return JSONResponse({"results": self.store.associations_of(from_obj, from_id, to_obj)})


def _labels_pair(from_obj: str, from_id: str, to_obj: str, to_id: str, action: str) -> JSON:
    if action == "associate":
        type_id = DEFAULT_ASSOCIATION_TYPES.get((from_obj, to_obj), 1)
        return _default_pair(from_id, to_id, type_id)
    return {  # LabelsBetweenObjectPair: every id a string in the v4 spec
        "fromObjectTypeId": str(OBJECT_TYPE_IDS[from_obj]),
        "fromObjectId": str(from_id),
        "toObjectTypeId": str(OBJECT_TYPE_IDS[to_obj]),
        "toObjectId": str(to_id),
        "labels": [],
    }


def _default_pair(from_id: str, to_id: str, type_id: int) -> JSON:
    """A pair linked with HubSpot's default type (``PublicDefaultAssociation``)."""
    return {
        "from": {"id": from_id},
        "to": {"id": to_id},
        "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id},
    }
