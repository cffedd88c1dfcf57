"""HubSpot connector: CRM v3 objects, search, properties and v4 associations."""

from abmsync.connectors.hubspot.client import HubSpotClient
from abmsync.connectors.hubspot.connector import HubSpotConnector

__all__ = ["HubSpotClient", "HubSpotConnector"]
