"""The wire formats of Bulk API 1.0: XML and JSON documents, CSV, JSON and XML records.

Everything here is pure: bytes in, Python values out, and back. The shapes
follow the Bulk API Developer Guide (1.0), whose XML lives in the namespace
``http://www.force.com/2009/06/asyncapi/dataload``:

- ``jobInfo``/``batchInfo``/``batchInfoList``/``error`` documents
  (asynch_api_reference_jobinfo.htm, asynch_api_reference_batchinfo.htm,
  asynch_api_reference_errors.htm);
- ingest results, ``"Id","Success","Created","Error"`` for CSV batches and
  ``results``/``[{"success", "created", "id", "errors"}]`` for XML and JSON
  (asynch_api_batches_get_results.htm);
- query results: a ``result-list`` of result ids, then each result as CSV,
  ``queryResult`` XML or a JSON array (asynch_api_using_bulk_query.htm).
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from abmsync.sandbox.salesforce.store import ObjectDef, Record, parse_datetime

NS = "http://www.force.com/2009/06/asyncapi/dataload"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
# The exact Content-Type values Salesforce answers with: salesforce-bulk compares them
# with ``==`` (salesforce_bulk.py parse_response/get_batch_results) and its integration
# tests pass against real orgs, so no ``charset`` parameter is appended.
MEDIA_TYPES = {"XML": "application/xml", "JSON": "application/json", "CSV": "text/csv"}
NULL = "#N/A"  # CSV value that sets a field to null; an empty value leaves the field alone


class FormatError(Exception):
    """A request body that cannot be read: the ``exceptionCode`` and message to answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Outcome:
    """What happened to one record of an ingest batch."""

    id: str
    success: bool
    created: bool
    code: str = ""
    message: str = ""
    fields: tuple[str, ...] = ()

    def error_text(self) -> str:
        """The ``Error`` column of a CSV result: ``CODE:message:fields --``."""
        return f"{self.code}:{self.message}:{','.join(self.fields)} --" if self.code else ""


# -- documents (jobInfo, batchInfo, errors) -----------------------------------------


def document(root: str, fields: Mapping[str, Any], fmt: str) -> bytes:
    """A ``jobInfo``/``batchInfo``/``error`` document as XML or JSON, in field order."""
    if fmt == "JSON":
        return json.dumps(dict(fields)).encode()
    element = _element(root, fields)
    element.set("xmlns", NS)
    return _xml_bytes(element)


def document_list(root: str, item: str, items: Sequence[Mapping[str, Any]], fmt: str) -> bytes:
    """``batchInfoList``: ``{"batchInfo": [...]}`` in JSON, repeated elements in XML."""
    if fmt == "JSON":
        return json.dumps({item: [dict(i) for i in items]}).encode()
    element = ET.Element(root, {"xmlns": NS})
    element.extend(_element(item, fields) for fields in items)
    return _xml_bytes(element)


def _element(tag: str, fields: Mapping[str, Any]) -> ET.Element:
    element = ET.Element(tag)
    for name, value in fields.items():
        if value is not None:
            ET.SubElement(element, name).text = _xml_text(value)
    return element


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xml_bytes(element: ET.Element) -> bytes:
    declaration = '<?xml version="1.0" encoding="UTF-8"?>'
    return (declaration + ET.tostring(element, encoding="unicode")).encode()


def read_document(raw: bytes, media_type: str) -> dict[str, str]:
    """The fields of a ``jobInfo`` request body, XML or JSON by its Content-Type."""
    if "json" in media_type:
        try:
            body = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise FormatError("ClientInputError", f"Failed to parse JSON: {error}") from error
        if not isinstance(body, dict):
            raise FormatError("ClientInputError", "The request body must be a JSON object")
        return {str(k): "" if v is None else str(v) for k, v in body.items()}
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as error:
        raise FormatError("InvalidXML", f"Unable to parse XML: {error}") from error
    return {_local(child.tag): (child.text or "").strip() for child in root}


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# -- ingest batches -------------------------------------------------------------------


def read_records(raw: bytes, content_type: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and records of a batch body.

    A key missing from a record leaves that field alone; None sets it to null.
    The columns are the CSV header, or every key the JSON or XML records use.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FormatError("InvalidBatch", "Files must be in UTF-8 format") from error
    if content_type == "CSV":
        return _csv_records(text)
    if content_type == "JSON":
        try:
            body = json.loads(text)
        except json.JSONDecodeError as error:
            raise FormatError("InvalidBatch", f"Failed to parse JSON: {error}") from error
        if not isinstance(body, list) or not all(isinstance(r, dict) for r in body):
            raise FormatError("InvalidBatch", "A JSON batch is an array of record objects")
        records = [{k: v for k, v in r.items() if k != "attributes"} for r in body]
    else:
        try:
            root = ET.fromstring(text)
        except ET.ParseError as error:
            raise FormatError("InvalidBatch", f"Failed to parse XML: {error}") from error
        records = [_xml_record(element) for element in root]
    columns = list(dict.fromkeys(name for record in records for name in record))
    return columns, records


def _csv_records(text: str) -> tuple[list[str], list[dict[str, Any]]]:
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    if not rows:
        raise FormatError("InvalidBatch", "Failed to parse CSV header")
    header, records = rows[0], []
    for row in rows[1:]:
        if len(row) != len(header):
            raise FormatError("InvalidBatch", "Number of columns does not match the header")
        records.append(
            {k: None if v == NULL else v for k, v in zip(header, row, strict=True) if v != ""}
        )
    return header, records


def _xml_record(element: ET.Element) -> dict[str, Any]:
    """One ``sObject``: ``xsi:nil="true"`` sets null, an empty element changes nothing."""
    record: dict[str, Any] = {}
    for field in element:
        if field.get(f"{{{XSI}}}nil") == "true":
            record[_local(field.tag)] = None
        elif field.text:
            record[_local(field.tag)] = field.text
    return record


def ingest_results(outcomes: Sequence[Outcome], content_type: str) -> bytes:
    """The ``result`` of an ingest batch, one entry per record in request order."""
    if content_type == "CSV":
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(["Id", "Success", "Created", "Error"])
        writer.writerows(
            [o.id, _xml_text(o.success), _xml_text(o.created), o.error_text()] for o in outcomes
        )
        return buffer.getvalue().encode()
    if content_type == "JSON":
        return json.dumps([_json_outcome(o) for o in outcomes]).encode()
    root = ET.Element("results", {"xmlns": NS})
    for outcome in outcomes:
        result = ET.SubElement(root, "result")
        if outcome.code:
            errors = ET.SubElement(result, "errors")
            for name in outcome.fields:
                ET.SubElement(errors, "fields").text = name
            ET.SubElement(errors, "message").text = outcome.message
            ET.SubElement(errors, "statusCode").text = outcome.code
        if outcome.id:
            ET.SubElement(result, "id").text = outcome.id
        ET.SubElement(result, "success").text = _xml_text(outcome.success)
        ET.SubElement(result, "created").text = _xml_text(outcome.created)
    return _xml_bytes(root)


def _json_outcome(outcome: Outcome) -> dict[str, Any]:
    errors = []
    if outcome.code:
        errors.append(
            {"statusCode": outcome.code, "message": outcome.message, "fields": list(outcome.fields)}
        )
    return {
        "success": outcome.success,
        "created": outcome.created,
        "id": outcome.id or None,
        "errors": errors,
    }


# -- query results ----------------------------------------------------------------------


def result_list(result_ids: Sequence[str], fmt: str) -> bytes:
    """The ids of a query batch's result files: ``result-list`` in XML, an array in JSON."""
    if fmt == "JSON":
        return json.dumps(list(result_ids)).encode()
    root = ET.Element("result-list", {"xmlns": NS})
    for result_id in result_ids:
        ET.SubElement(root, "result").text = result_id
    return _xml_bytes(root)


def query_results(
    obj: ObjectDef,
    fields: Sequence[str],
    records: Iterable[Record],
    content_type: str,
    version: str,
) -> bytes:
    """One result file of a query batch in the job's content type."""
    kinds = [obj.fields[name].type for name in fields]
    if content_type == "CSV":
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(fields)
        writer.writerows(
            [_csv_value(kind, record[name]) for kind, name in zip(kinds, fields, strict=True)]
            for record in records
        )
        return buffer.getvalue().encode()
    if content_type == "JSON":
        rows = []
        for record in records:
            url = f"/services/data/v{version}/sobjects/{obj.name}/{record.get('Id')}"
            row: dict[str, Any] = {"attributes": {"type": obj.name, "url": url}}
            for kind, name in zip(kinds, fields, strict=True):
                row[name] = _json_value(kind, record[name])
            rows.append(row)
        return json.dumps(rows).encode()
    root = ET.Element("queryResult", {"xmlns": NS, "xmlns:xsi": XSI})
    for record in records:
        element = ET.SubElement(root, "records", {"xsi:type": "sObject"})
        ET.SubElement(element, "type").text = obj.name
        for kind, name in zip(kinds, fields, strict=True):
            value = record[name]
            if value is None:
                ET.SubElement(element, name, {"xsi:nil": "true"})
            else:
                ET.SubElement(element, name).text = _csv_value(kind, value)
    return _xml_bytes(root)


def _csv_value(kind: str, value: Any) -> str:
    """A value as CSV and XML results write it: null is empty, datetimes end in ``Z``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _xml_text(value)
    if kind == "datetime":
        return str(value).replace("+0000", "Z")
    return str(value)


def _json_value(kind: str, value: Any) -> Any:
    """Bulk 1.0 JSON results give date and datetime values as epoch milliseconds.

    Reported against real orgs in simple-salesforce/simple-salesforce#290
    (``'CreatedDate': 1546659665000``), unlike the REST API's ISO strings.
    """
    if value is None or kind not in ("date", "datetime"):
        return value
    moment = (
        parse_datetime(str(value))
        if kind == "datetime"
        else datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
    )
    return int(moment.timestamp() * 1000)
