"""A local Salesforce org: the REST API surface abmsync uses, served by ``create_app``."""

from abmsync.sandbox.salesforce.app import SalesforceSandbox, SandboxConfig, create_app

__all__ = ["SalesforceSandbox", "SandboxConfig", "create_app"]
