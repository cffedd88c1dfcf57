"""Salesforce: SOQL change reads, sObject Collections writes, Tooling API fields."""

from abmsync.connectors.salesforce.client import SalesforceClient
from abmsync.connectors.salesforce.connector import ChangeWindow, SalesforceConnector

__all__ = ["ChangeWindow", "SalesforceClient", "SalesforceConnector"]
