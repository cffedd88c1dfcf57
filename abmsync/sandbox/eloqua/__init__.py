"""Oracle Eloqua emulator: login and discovery, the application (REST) API and Bulk API 2.0."""

from abmsync.sandbox.eloqua.app import create_app
from abmsync.sandbox.eloqua.config import EloquaConfig
from abmsync.sandbox.eloqua.store import EloquaStore

__all__ = ["EloquaConfig", "EloquaStore", "create_app"]
