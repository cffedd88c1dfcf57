"""The REST ``query``/``queryAll`` resources: run SOQL, hand out pages by locator.

Each query's records are kept under a locator; ``nextRecordsUrl`` is
``/services/data/vXX.X/query/{locator}-{offset}`` until the last page
(REST API Developer Guide, "Query": up to 2,000 records a page, fewer when the
``Sforce-Query-Options: batchSize`` header asks). ``COUNT()`` answers only
``totalSize``; aggregate queries answer all their rows at once (GROUP BY
results cannot be paged with a query locator).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from abmsync.sandbox.salesforce.soql import QueryResult, SoqlError, run_query
from abmsync.sandbox.salesforce.store import Store

MAX_OPEN = 100  # locators kept per org; older ones expire as real ones do


class QueryCursors:
    """The open query locators of one org."""

    def __init__(self, page_size: Callable[[], int]) -> None:
        self.page_size = page_size  # read per page: an org's setting may change
        self._cursors: dict[str, QueryResult] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def open(
        self, store: Store, soql: str, version: str, kind: str, params: dict[str, str]
    ) -> dict[str, Any]:
        """Run ``soql`` and answer its first page; raise :class:`SoqlError` if refused."""
        result = run_query(store, soql, version, include_deleted=kind == "queryAll")
        if result.aggregate or not result.total:
            records = result.records()
            result.close()  # nothing to page
            return {"totalSize": result.total, "done": True, "records": records}
        locator = f"01g5g{next(self._ids):010d}AAA"
        with self._lock:
            self._cursors[locator] = result
            while len(self._cursors) > MAX_OPEN:
                self._cursors.pop(next(iter(self._cursors))).close()
        return self._page(locator, 0, version, kind, params)

    def more(self, token: str, version: str, kind: str, params: dict[str, str]) -> dict[str, Any]:
        """The page a ``nextRecordsUrl`` names."""
        locator, _, offset = token.rpartition("-")
        if locator not in self._cursors or not offset.isdigit():
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(locator, int(offset), version, kind, params)

    def _page(
        self, locator: str, offset: int, version: str, kind: str, params: dict[str, str]
    ) -> dict[str, Any]:
        result = self._cursors[locator]
        size = int(params.get("_batch_size", self.page_size()))
        try:
            page = result.records(offset, offset + size)
        except KeyError:
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator") from None
        done = offset + size >= result.total
        answer: dict[str, Any] = {"totalSize": result.total, "done": done, "records": page}
        if not done:
            answer["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{locator}-{offset + size}"
        return answer
