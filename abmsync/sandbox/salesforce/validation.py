"""Checks of written values: each bad value is a :class:`RecordError` with Salesforce's code.

Also :func:`custom_field`, which turns Tooling API ``CustomField`` metadata into a
:class:`~abmsync.sandbox.salesforce.schema.FieldDef`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from abmsync.sandbox.salesforce.formats import format_datetime, is_id, long_id, parse_datetime
from abmsync.sandbox.salesforce.schema import NUMBER_TYPES, FieldDef, ObjectDef
from abmsync.sandbox.salesforce.standard import make_field


class RecordError(Exception):
    """One record rejected: the Salesforce ``statusCode``, message and fields."""

    def __init__(self, code: str, message: str, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = list(fields)

    def as_json(self) -> dict[str, Any]:
        """The ``errors[]`` item of a composite result."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def clean_values(
    obj: ObjectDef, values: Mapping[str, Any], *, creating: bool, trusted: bool = False
) -> dict[str, Any]:
    """Validate and convert ``values`` to column values, or raise :class:`RecordError`."""
    out: dict[str, Any] = {}
    for raw_name, value in values.items():
        if raw_name == "attributes" or (raw_name == "Id" and not trusted):
            continue
        spec = obj.field(raw_name)
        if spec is None or not spec.stored:
            raise RecordError(
                "INVALID_FIELD",
                f"No such column '{raw_name}' on sobject of type {obj.name}",
                [raw_name],
            )
        writable = spec.createable if creating else spec.updateable
        if not writable and not trusted:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {spec.name}. Please check the security "
                "settings of this field and verify that it is read/write for your profile "
                "or permission set.",
                [spec.name],
            )
        out[spec.name] = column_value(obj, spec, value)
    if creating and not trusted:
        missing = [
            f.name
            for f in obj.fields.values()
            if f.createable
            and not f.nillable
            and not f.defaulted_on_create
            and out.get(f.name) in (None, "")
        ]
        if missing:
            raise RecordError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
    return out


def column_value(obj: ObjectDef, spec: FieldDef, value: Any) -> Any:
    """One JSON value checked against ``spec`` and converted to its column value."""
    if value is None or value == "":
        if not spec.nillable and spec.type == "boolean":
            raise RecordError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{spec.name}: null", [spec.name])
        if spec.restricted and not spec.nillable:
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{spec.label or spec.name}: bad value for restricted picklist field: ",
                [spec.name],
            )
        return None
    if spec.type == "boolean":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return int(value.lower() == "true")
        raise _bad_type(spec, value)
    if spec.type == "int" or spec.type in NUMBER_TYPES:
        try:
            number = float(value) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None:
            raise _bad_type(spec, value)
        return int(number) if spec.type == "int" else number
    if spec.type == "datetime":
        try:
            return format_datetime(parse_datetime(str(value)))
        except ValueError:
            raise _bad_type(spec, value) from None
    if spec.type == "date":
        try:
            return date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError:
            raise _bad_type(spec, value) from None
    if not isinstance(value, str):
        value = str(value).lower() if isinstance(value, bool) else str(value)
    if spec.type == "reference":
        if not is_id(value):
            raise RecordError(
                "MALFORMED_ID",
                f"{spec.label or spec.name}: id value of incorrect type: {value}",
                [spec.name],
            )
        return long_id(value)  # Salesforce stores and hands out 18-character ids
    if spec.restricted and spec.picklist:
        chosen = value.split(";") if spec.type == "multipicklist" else [value]
        bad = next((v for v in chosen if v not in spec.picklist), None)
        if bad is not None:
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{spec.label or spec.name}: bad value for restricted picklist field: {bad}",
                [spec.name],
            )
    if spec.length and len(value) > spec.length:
        raise RecordError(
            "STRING_TOO_LONG",
            f"{spec.label or spec.name}: data value too large: {value[:20]}... "
            f"(max length={spec.length})",
            [spec.name],
        )
    if spec.type == "email" and "@" not in value:
        raise RecordError(
            "INVALID_EMAIL_ADDRESS",
            f"{spec.label or spec.name}: invalid email address: {value}",
            [spec.name],
        )
    return value


def _bad_type(spec: FieldDef, value: Any) -> RecordError:
    return RecordError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{spec.label or spec.name}: value not of required type: {value}",
        [spec.name],
    )


def custom_field(name: str, metadata: Mapping[str, Any]) -> FieldDef:
    """A :class:`FieldDef` from Tooling API ``CustomField`` metadata (Text, Number, ...)."""
    kind = str(metadata.get("type", "Text"))
    label = str(metadata.get("label") or name)
    common: dict[str, Any] = {
        "label": label,
        "external_id": bool(metadata.get("externalId", False)),
    }
    if kind in ("Text", "Email", "Phone", "Url", "TextArea", "LongTextArea"):
        sf_type = {
            "Text": "string",
            "Email": "email",
            "Phone": "phone",
            "Url": "url",
            "TextArea": "textarea",
            "LongTextArea": "textarea",
        }[kind]
        default_length = {"Text": 255, "TextArea": 255, "LongTextArea": 32768}.get(kind, 80)
        return make_field(name, sf_type, int(metadata.get("length") or default_length), **common)
    if kind in ("Number", "Currency", "Percent"):
        precision = int(metadata.get("precision") or 18)
        scale = int(metadata.get("scale") or 0)
        sf_type = {"Number": "double", "Currency": "currency", "Percent": "percent"}[kind]
        return make_field(name, sf_type, precision=precision, scale=scale, **common)
    if kind == "Checkbox":
        default = str(metadata.get("defaultValue", "false")).lower() == "true"
        return make_field(name, "boolean", nillable=False, default=default, **common)
    if kind in ("Date", "DateTime"):
        return make_field(name, kind.lower(), **common)
    if kind == "Lookup":
        target = str(metadata.get("referenceTo") or "")
        if not target:
            raise RecordError("FIELD_INTEGRITY_EXCEPTION", "Lookup needs referenceTo", ["type"])
        relation = str(metadata.get("relationshipName") or "")
        relation = relation + "__r" if relation and not relation.endswith("__r") else relation
        return make_field(
            name, "reference", reference_to=(target,), relationship=relation, **common
        )
    if kind in ("Picklist", "MultiselectPicklist"):
        value_set = metadata.get("valueSet") or {}
        values = (value_set.get("valueSetDefinition") or {}).get("value") or []
        names = tuple(str(v.get("fullName") or v.get("label")) for v in values)
        sf_type = "picklist" if kind == "Picklist" else "multipicklist"
        length = 255 if kind == "Picklist" else 4099
        restricted = bool(value_set.get("restricted", False))
        return make_field(name, sf_type, length, picklist=names, restricted=restricted, **common)
    raise RecordError("FIELD_INTEGRITY_EXCEPTION", f"Unsupported field type: {kind}", ["type"])
