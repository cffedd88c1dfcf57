"""Custom objects: creating the one abmsync writes touchpoints to, and naming its fields.

Fields are created through the application API 2.0
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-rest-api/op-api-rest-2.0-assets-customobject-post.html):
``POST /api/REST/2.0/assets/customObject`` with the object's name and its
fields (``CustomObjectField``: name, dataType text | largeText | numeric |
date, displayType), or, when the object exists, ``PUT`` of the object with
its fields and the new ones (fields without an id are added). Eloqua names a
new field ``<name>1`` (letters, digits and ``_`` kept, others as ``_``), as
it names contact fields without the ``C_`` prefix; a wanted name of that
shape (``ABM_Type1``) is created as ``ABM Type`` so that it gets the name
asked for, any other (``ABM_Touchpoint_Key``) under itself, and the names
Eloqua gave are returned.

Custom object fields are named by internal name, like contact fields; a
field's display name is accepted as an alias where no other field has it
(a rules file may say ``ABM_Touchpoint_Key`` for ``ABM_Touchpoint_Key1``).

Every object abmsync creates also gets a text field ``ContactId``: an import
stages each record's contact id there and ``mapDataCards`` links the record
to that contact (see :mod:`.writing`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from abmsync.connectors.base import FieldMeta, FieldType
from abmsync.connectors.eloqua.errors import EloquaTerminalError

if TYPE_CHECKING:
    from abmsync.connectors.eloqua.catalog import Catalog

LINKED_CONTACT = "ContactId"
INTERNAL_NAME = re.compile(r"^(?P<base>[A-Za-z][A-Za-z0-9_]*?)(?P<number>\d+)$")


def field_display_name(name: str) -> str:
    """The name to create a custom object field under, so Eloqua names it ``name``."""
    match = INTERNAL_NAME.match(name)
    return match.group("base").replace("_", " ").strip() if match else name


def is_link_field(display: str, internal: str) -> bool:
    """Whether a custom object field is the ``ContactId`` abmsync stages contact ids in."""
    return display.lower() == LINKED_CONTACT.lower() or internal.lower() == "contactid1"


def ensure_custom_object(catalog: Catalog, obj: str, wanted: Sequence[FieldMeta]) -> list[str]:
    """Create custom object ``obj`` or its missing fields; the names of the fields created."""
    from abmsync.connectors.eloqua.catalog import TEXT_LENGTH, create_type

    link = FieldMeta(name=LINKED_CONTACT, label="Contact ID", type=FieldType.STRING, length=20)
    fields = [*(f for f in wanted if f.name != LINKED_CONTACT), link]
    asked = {f.name for f in wanted}
    object_id = catalog.custom_object_id(obj)

    def definition(spec: FieldMeta) -> dict[str, Any]:
        data_type, display_type = create_type(spec, TEXT_LENGTH["custom"])
        name = spec.name if spec.name == LINKED_CONTACT else field_display_name(spec.name)
        return {
            "type": "CustomObjectField",
            "name": name,
            "dataType": data_type,
            "displayType": display_type,
        }

    if object_id is None:
        missing = fields
        body = {"type": "CustomObject", "name": obj, "fields": [definition(f) for f in fields]}
        answer = catalog.client.json(
            "POST",
            "rest",
            "assets/customObject",
            version="2.0",
            what=f"creating custom object {obj!r}",
            json_body=body,
        )
        if not isinstance(answer, Mapping) or not answer.get("id"):
            raise EloquaTerminalError(f"Eloqua created custom object {obj!r} without an id")
    else:
        current = catalog.client.json(
            "GET",
            "rest",
            f"assets/customObject/{object_id}",
            version="2.0",
            what=f"reading custom object {obj!r}",
            params={"depth": "complete"},
        )
        if not isinstance(current, Mapping):
            raise EloquaTerminalError(f"Eloqua answered nothing for custom object {obj!r}")
        have = _names(current)
        known = set(have) | {internal.lower() for internal in have.values()}
        linked = any(is_link_field(display, internal) for display, internal in have.items())
        missing = [
            f
            for f in fields
            if not {f.name.lower(), definition(f)["name"].lower()} & known
            and not (f.name == LINKED_CONTACT and linked)
        ]
        if not missing:
            return []
        listed = list(current.get("fields") or [])
        body = {**current, "fields": [*listed, *map(definition, missing)]}
        answer = catalog.client.json(
            "PUT",
            "rest",
            f"assets/customObject/{object_id}",
            version="2.0",
            what=f"adding fields to custom object {obj!r}",
            json_body=body,
        )
    catalog.forget()
    made = _names(answer)
    created = []
    for spec in missing:
        if spec.name not in asked:
            continue
        display = definition(spec)["name"]
        internal = made.get(display.lower(), spec.name)
        created.append(LINKED_CONTACT if spec.name == LINKED_CONTACT else internal)
    return created


def _names(answer: object) -> dict[str, str]:
    """display name (lower case) -> internal name, of the fields an answer lists."""
    listed = answer.get("fields") if isinstance(answer, Mapping) else None
    found: dict[str, str] = {}
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, Mapping) and item.get("name"):
            name = str(item["name"])
            found[name.lower()] = str(item.get("internalName") or name)
    return found
