"""A local HubSpot emulator (CRM v3 objects, search, properties, owners, v4 associations)."""

from abmsync.sandbox.hubspot.app import create_app, render_fault
from abmsync.sandbox.hubspot.store import HubSpotStore

__all__ = ["HubSpotStore", "create_app", "render_fault"]
