"""The errors a SOQL query can get, worded and located as Salesforce words them."""

from __future__ import annotations


class SoqlError(Exception):
    """A query Salesforce refuses, with its ``errorCode`` (``MALFORMED_QUERY``, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def located(soql: str, pos: int, message: str, code: str = "MALFORMED_QUERY") -> SoqlError:
    """An error pointing at ``pos``, in Salesforce's shape.

    Salesforce repeats the query, puts a caret under the offending token and
    names its row and column, e.g. ``\\nSELECT Id FROM Lead WHERE\\n ... ^\\nERROR
    at Row:1:Column:20\\nunexpected token: <EOF>``.
    """
    line_start = soql.rfind("\n", 0, pos) + 1
    row = soql.count("\n", 0, pos) + 1
    column = pos - line_start + 1
    line_end = soql.find("\n", pos)
    line = soql[line_start : line_end if line_end >= 0 else len(soql)]
    caret = " " * (column - 1) + "^"
    return SoqlError(code, f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{column}\n{message}")
