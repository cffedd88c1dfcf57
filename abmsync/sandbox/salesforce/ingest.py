"""One record of a bulk ingest job written to the org: shared by Bulk API 1.0 and 2.0.

Both APIs process an ingest job row by row through the same planning as sObject
Collections (``SalesforceSandbox._plan``), so a row gets the same validation,
error codes and injected lock failures as a REST write. The job's operation
picks the write: ``insert`` creates, ``update`` patches by ``Id``, ``delete``
(and Bulk 1.0's ``hardDelete``) deletes by ``Id``, and ``upsert`` matches on
the job's external id field; an upsert keyed on ``Id`` updates a row that has
one and inserts a row that has none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from abmsync.sandbox.salesforce.store import ObjectDef, RecordError

if TYPE_CHECKING:
    from abmsync.sandbox.salesforce.app import SalesforceSandbox

_METHODS = {"insert": "POST", "update": "PATCH", "upsert": "PATCH"}


def row_id(values: dict[str, Any]) -> str:
    """The row's ``Id`` column (any case), or "" when it has none."""
    return str(next((v for k, v in values.items() if k.lower() == "id"), None) or "")


def apply_record(
    sandbox: SalesforceSandbox,
    operation: str,
    obj: ObjectDef,
    key: str | None,
    values: dict[str, Any],
) -> tuple[str, RecordError | bool]:
    """Write one row as ``operation`` says; return (record id, the error or whether it was created).

    ``key`` is the job's external id field (its describe name), set for upserts only.
    """
    rid = row_id(values)
    record: dict[str, Any] = {"attributes": {"type": obj.name}, **values}
    upsert: tuple[str, str] | None = None
    method = _METHODS.get(operation, "DELETE")
    if method == "DELETE":
        # hardDelete also goes to the recycle bin here: the store has no purge.
        record = {"Id": rid}
    elif operation == "upsert" and key == "Id":
        method = "PATCH" if rid else "POST"
    elif operation == "upsert" and key is not None:
        upsert = (obj.name, key)
    plan: RecordError | Callable[[], dict[str, Any]] = sandbox._plan(method, record, upsert)
    if isinstance(plan, RecordError):
        return rid, plan
    try:
        result = plan()
    except RecordError as error:
        return rid, error
    created = bool(result.get("created", method == "POST"))
    return str(result.get("id") or rid), created
