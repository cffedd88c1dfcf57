"""SOQL for the Salesforce emulator: parse, check against the org's objects, run on SQLite.

:func:`run_query` answers the REST ``query``/``queryAll`` resources,
:func:`prepare_bulk_query` Bulk API 2.0 query jobs and :func:`translate` plain
single-object queries for callers that read rows themselves.
"""

from abmsync.sandbox.salesforce.soql.errors import SoqlError
from abmsync.sandbox.salesforce.soql.run import (
    QueryResult,
    prepare_bulk_query,
    run_query,
)
from abmsync.sandbox.salesforce.soql.translate import Query, translate

__all__ = [
    "Query",
    "QueryResult",
    "SoqlError",
    "prepare_bulk_query",
    "run_query",
    "translate",
]
