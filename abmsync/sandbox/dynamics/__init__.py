"""Dynamics 365 (Dataverse) emulator: Microsoft Entra tokens and the Dataverse Web API."""

from abmsync.sandbox.dynamics.app import DataverseSandbox, DynamicsConfig, create_app
from abmsync.sandbox.dynamics.store import DataverseStore

__all__ = ["DataverseSandbox", "DataverseStore", "DynamicsConfig", "create_app"]
