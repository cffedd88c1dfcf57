"""Oracle Eloqua connector: httpx for the calls, the Bulk API 2.0 for reads and writes."""

from abmsync.connectors.eloqua.connector import EloquaConnector

__all__ = ["EloquaConnector"]
