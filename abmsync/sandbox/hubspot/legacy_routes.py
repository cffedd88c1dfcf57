"""Routes of HubSpot's legacy APIs that older clients (Singer taps, hubspot3) still call.

Paths, parameters and limits follow the legacy references cited in
:mod:`abmsync.sandbox.hubspot.legacy`: offsets are the last id of the page
(``offset``, ``vid-offset``) and the next page starts after it; ``limit`` is
at most 250 for companies and deals, ``count`` at most 100 for contacts; a
list returns no properties unless asked for (contacts: a default few).
Also the v3 association batch read
(https://developers.hubspot.com/docs/api-reference/crm-associations-v3/batch/post-crm-v3-associations-fromObjectType-toObjectType-batch-read),
whose ``to`` items are ``{"id", "type": "company_to_contact"}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from abmsync.sandbox.hubspot import legacy
from abmsync.sandbox.hubspot.errors import ApiError
from abmsync.sandbox.hubspot.records import JSON, Record, iso
from abmsync.sandbox.hubspot.store import HubSpotStore

LEGACY_PAGE_MAX = 250  # companies v2 and deals v1 ``limit``
CONTACTS_PAGE_MAX = 100  # contacts v1 ``count``
ASSOCIATION_READ_MAX = 1000  # v3 association batch read inputs
# Object types the v3 association paths accept in singular or plural form.
SINGULAR = {"contact": "contacts", "company": "companies", "deal": "deals", "note": "notes"}


def legacy_routes(store: HubSpotStore) -> list[Route]:
    """The legacy routes over ``store``, to be listed in the emulator's app."""
    api = LegacyApi(store)
    return [
        Route("/companies/v2/companies/paged", api.companies_paged, methods=["GET"]),
        Route("/companies/v2/companies/{id}", api.company, methods=["GET"]),
        Route("/companies/v2/properties", api.company_properties, methods=["GET"]),
        Route("/deals/v1/deal/paged", api.deals_paged, methods=["GET"]),
        Route("/deals/v1/deal/{id}", api.deal, methods=["GET"]),
        Route("/deals/v1/pipelines", api.pipelines, methods=["GET"]),
        Route("/properties/v1/{type}/properties", api.properties, methods=["GET"]),
        Route("/contacts/v1/lists/all/contacts/all", api.all_contacts, methods=["GET"]),
        Route(
            "/crm/v3/associations/{from}/{to}/batch/read",
            api.read_associations,
            methods=["POST"],
        ),
    ]


class LegacyApi:
    """Handlers of the legacy routes; every answer is rendered by :mod:`legacy`."""

    def __init__(self, store: HubSpotStore) -> None:
        self.store = store

    def _page(self, obj: str, after: int, limit: int) -> tuple[list[Record], bool]:
        """Live records with ids above ``after``, in id order; and whether more follow."""
        with self.store._lock:
            live = sorted(
                (r for r in self.store.records[obj].values() if r.archived_ms is None),
                key=lambda r: r.id,
            )
        rest = [r for r in live if r.id > after]
        return rest[:limit], len(rest) > limit

    def _live(self, obj: str, raw: str) -> Record:
        record = self.store.get(obj, raw)
        if record is None:
            raise ApiError(404, "OBJECT_NOT_FOUND", "resource not found")
        return record

    async def companies_paged(self, request: Request) -> Response:
        query = request.query_params
        limit = _int(query, "limit", 100, LEGACY_PAGE_MAX)
        offset = _int(query, "offset", 0, None)
        # No property unless asked for: the paged list is for ids (and a few values).
        names = _wanted(query.getlist("properties") + query.getlist("propertiesWithHistory")) or []
        with self.store._lock:
            page, more = self._page("companies", offset, limit)
            companies = [legacy.company_v2(self.store, r, names, detail=False) for r in page]
        last = page[-1].id if page else offset
        return JSONResponse({"companies": companies, "has-more": more, "offset": last})

    async def company(self, request: Request) -> Response:
        with self.store._lock:
            record = self._live("companies", str(request.path_params["id"]))
            return JSONResponse(legacy.company_v2(self.store, record, None, detail=True))

    async def company_properties(self, request: Request) -> Response:
        return JSONResponse(self._property_defs("companies"))

    async def properties(self, request: Request) -> Response:
        """``/properties/v1/{contacts,companies,deals}/properties``; other types are 404."""
        obj = str(request.path_params["type"])
        if obj not in ("contacts", "companies", "deals"):
            raise ApiError(404, "OBJECT_NOT_FOUND", f"No properties for object type {obj}")
        return JSONResponse(self._property_defs(obj))

    def _property_defs(self, obj: str) -> list[JSON]:
        with self.store._lock:
            return [legacy.property_v1(p) for p in self.store.props[obj].values()]

    async def deals_paged(self, request: Request) -> Response:
        query = request.query_params
        limit = _int(query, "limit", 100, LEGACY_PAGE_MAX)
        offset = _int(query, "offset", 0, None)
        # ``includeAllProperties`` is what HubSpot told Singer's tap to use instead of a
        # long ``properties`` list (tap-hubspot, sync_deals): every set property.
        every = _true(query.get("includeAllProperties"))
        asked = _wanted(query.getlist("properties") + query.getlist("propertiesWithHistory"))
        names = None if every else asked or []
        associations = _true(query.get("includeAssociations"))
        with self.store._lock:
            page, more = self._page("deals", offset, limit)
            deals = [legacy.deal_v1(self.store, r, names, associations=associations) for r in page]
        last = page[-1].id if page else offset
        return JSONResponse({"deals": deals, "hasMore": more, "offset": last})

    async def deal(self, request: Request) -> Response:
        with self.store._lock:
            record = self._live("deals", str(request.path_params["id"]))
            return JSONResponse(legacy.deal_v1(self.store, record, None, associations=True))

    async def pipelines(self, request: Request) -> Response:
        with self.store._lock:
            return JSONResponse(legacy.pipelines_v1(self.store))

    async def all_contacts(self, request: Request) -> Response:
        query = request.query_params
        count = _int(query, "count", 20, CONTACTS_PAGE_MAX)
        offset = _int(query, "vidOffset", 0, None)
        mode = query.get("propertyMode", "value_only")
        if mode not in ("value_only", "value_and_history"):
            raise ApiError(400, "VALIDATION_ERROR", f"Invalid propertyMode: {mode}")
        names = _wanted(query.getlist("property"))
        with self.store._lock:
            page, more = self._page("contacts", offset, count)
            contacts = [
                legacy.contact_v1(
                    self.store,
                    r,
                    names,
                    history=mode == "value_and_history",
                    memberships=_true(query.get("showListMemberships")),
                )
                for r in page
            ]
        last = page[-1].id if page else offset
        return JSONResponse({"contacts": contacts, "has-more": more, "vid-offset": last})

    async def read_associations(self, request: Request) -> Response:
        """v3 batch read: 200 with every input's links, or 207 with an error per input
        that has none (HubSpot's ``NO_ASSOCIATIONS_FOUND``)."""
        from_obj = self._object_type(str(request.path_params["from"]))
        to_obj = self._object_type(str(request.path_params["to"]))
        inputs = await _inputs(request)
        if len(inputs) > ASSOCIATION_READ_MAX:
            raise ApiError(
                400, "VALIDATION_ERROR", f"At most {ASSOCIATION_READ_MAX} inputs per batch"
            )
        started = iso(self.store.now())
        label = f"{_singular(from_obj)}_to_{_singular(to_obj)}"
        results: list[JSON] = []
        errors: list[JSON] = []
        for item in inputs:
            from_id = str(item.get("id", ""))
            linked = (
                self.store.associations_of(from_obj, from_id, to_obj)
                if self.store.get(from_obj, from_id) is not None
                else []
            )
            if not linked:
                errors.append(_no_associations(from_obj, from_id, to_obj))
                continue
            to = [{"id": str(link["toObjectId"]), "type": label} for link in linked]
            results.append({"from": {"id": from_id}, "to": to})
        body: JSON = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso(self.store.now()),
        }
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
            return JSONResponse(body, status_code=207)
        return JSONResponse(body)

    def _object_type(self, raw: str) -> str:
        return self.store.object_type(SINGULAR.get(raw.lower(), raw))


def _singular(obj: str) -> str:
    return next((one for one, many in SINGULAR.items() if many == obj), obj)


def _no_associations(from_obj: str, from_id: str, to_obj: str) -> JSON:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
        "message": f"No {_singular(to_obj)} is associated with {_singular(from_obj)} {from_id}.",
        "context": {"fromObjectId": [from_id]},
        "errors": [],
        "links": {},
    }


def _int(query: Mapping[str, str], name: str, default: int, ceiling: int | None) -> int:
    """An integer parameter; a larger value than ``ceiling`` is cut to it, as HubSpot does."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", f"{name} must be an integer: {raw!r}") from None
    if value < 0:
        raise ApiError(400, "VALIDATION_ERROR", f"{name} must not be negative")
    return value if ceiling is None else min(value, ceiling)


def _wanted(raw: list[str]) -> list[str] | None:
    """Property names from repeated (or comma-separated) parameters; None if none."""
    names = [n for value in raw for n in value.split(",") if n]
    return names or None


def _true(raw: str | None) -> bool:
    return raw is not None and raw.lower() == "true"


async def _inputs(request: Request) -> list[Mapping[str, object]]:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", "Invalid input JSON") from None
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise ApiError(400, "VALIDATION_ERROR", "inputs: a list of {id} objects is required")
    return inputs
