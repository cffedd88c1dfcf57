"""One sync run and the state it keeps between runs.

The state store (``Store``) is the part other modules use most; its pieces
live in ``database`` (connections, migrations), ``snapshot``, ``ledger`` and
``runlog``.
"""

from abmsync.sync.database import StoreError, Transaction
from abmsync.sync.ledger import LedgerScore
from abmsync.sync.runlog import DeadLetter, RunRecord
from abmsync.sync.store import Store

__all__ = ["DeadLetter", "LedgerScore", "RunRecord", "Store", "StoreError", "Transaction"]
