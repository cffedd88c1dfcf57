"""Dataverse error answers: an HTTP status and ``{"error": {"code", "message"}}``.

Codes are the hexadecimal ``ErrorCode`` values Dataverse puts in Web API error
bodies (https://learn.microsoft.com/power-apps/developer/data-platform/reference/web-service-error-codes).
"""

from __future__ import annotations

from typing import Any

NOT_FOUND = "0x80040217"  # ObjectDoesNotExist
DUPLICATE = "0x80040237"  # DuplicateRecord: "A record with matching key values already exists."
ODATA = "0x80060888"  # OData URI/query errors: unknown property, syntax error, unknown segment
PAYLOAD = "0x80048d19"  # error identified in the payload (unknown property, wrong type)
TOO_LONG = "0x80044331"  # string longer than its MaxLength
PICKLIST_RANGE = "0x8004431a"  # option value outside the option set (guessed, see app docstring)
EXPIRED_VERSION = "0x80044352"  # ExpiredVersionStamp
REQUESTS_EXCEEDED = "0x80072322"  # service protection: number of requests
EXECUTION_TIME = "0x80072321"  # service protection: combined execution time
CONCURRENCY = "0x80072326"  # service protection: concurrent requests
UNAUTHORIZED = "0x80072560"  # guessed: no or invalid bearer token
METADATA_EXISTS = "0x80047013"  # guessed: a table/column with that name exists
LEAD_CLOSED = "0x80040233"  # guessed: qualifying a lead that is not open
SERVER = "0x80040216"  # UnExpected (generic server error)
TOO_MANY_BATCH = "0x8006088b"  # guessed: more than 1000 requests in one $batch

PAYLOAD_HELP = "https://go.microsoft.com/fwlink/?linkid=2195293"


class DataverseError(Exception):
    """An error answer of the Web API."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON body Dataverse sends with the error."""
        return {"error": {"code": self.code, "message": self.message}}


def not_found(logical: str, record_id: str) -> DataverseError:
    """404 for a record that does not exist (or was deleted)."""
    return DataverseError(
        404, NOT_FOUND, f"Entity '{logical}' With Id = {record_id} Does Not Exist"
    )


def unknown_property(name: str, logical: str) -> DataverseError:
    """400 for a name in $select/$filter/$orderby that the entity type does not have."""
    return DataverseError(
        400,
        ODATA,
        f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{logical}'.",
    )


def payload_error(entity_set: str, inner: str) -> DataverseError:
    """400 for a request body Dataverse cannot bind to the entity type."""
    return DataverseError(
        400,
        PAYLOAD,
        f"Error identified in Payload provided by the user for Entity :'{entity_set}', "
        f"For more information on this error please follow this help link {PAYLOAD_HELP}  "
        f"---->  InnerException : Microsoft.OData.ODataException: {inner}",
    )
