"""Dynamics 365 (Dataverse Web API) connector: msal for the token, httpx for the calls."""

from abmsync.connectors.dynamics.connector import DynamicsConnector

__all__ = ["DynamicsConnector"]
