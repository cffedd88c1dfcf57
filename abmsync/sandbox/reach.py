"""The ``ABMSYNC_*`` settings that point abmsync at a served emulator.

``abmsync sandbox serve`` prints them and ``abmsync demo`` runs its syncs with
them. They are the sandbox's own fixed demo credentials, never real ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from abmsync.sandbox.dynamics.app import DynamicsConfig
    from abmsync.sandbox.eloqua import EloquaConfig
    from abmsync.sandbox.salesforce.app import SandboxConfig

HUBSPOT_TOKEN = "sandbox-token"


def salesforce_settings(url: str, ca_file: str, config: SandboxConfig) -> dict[str, str]:
    """Settings for a Salesforce emulator served at ``url`` (its first user's login too)."""
    user, password = next(iter(config.users.items()))
    return {
        "ABMSYNC_SALESFORCE__INSTANCE_URL": url,
        "ABMSYNC_SALESFORCE__CLIENT_ID": config.client_id,
        "ABMSYNC_SALESFORCE__CLIENT_SECRET": config.client_secret,
        "ABMSYNC_SALESFORCE__USERNAME": user,
        "ABMSYNC_SALESFORCE__PASSWORD": password,
        "ABMSYNC_SALESFORCE__VERIFY": ca_file,
    }


def dynamics_settings(url: str, ca_file: str, config: DynamicsConfig) -> dict[str, str]:
    """Settings for a Dataverse emulator served at ``url``: the org and its Entra authority."""
    return {
        "ABMSYNC_DYNAMICS__ORG_URL": url,
        "ABMSYNC_DYNAMICS__TENANT_ID": config.tenant_id,
        "ABMSYNC_DYNAMICS__CLIENT_ID": config.client_id,
        "ABMSYNC_DYNAMICS__CLIENT_SECRET": config.client_secret,
        "ABMSYNC_DYNAMICS__AUTHORITY_HOST": url,
        "ABMSYNC_DYNAMICS__VERIFY": ca_file,
    }


def hubspot_settings(url: str, token: str = HUBSPOT_TOKEN) -> dict[str, str]:
    """Settings for a HubSpot emulator served at ``url``."""
    return {"ABMSYNC_HUBSPOT__HOST": url, "ABMSYNC_HUBSPOT__ACCESS_TOKEN": token}


def eloqua_settings(url: str, ca_file: str, config: EloquaConfig) -> dict[str, str]:
    """Settings for an Eloqua emulator served at ``url``: it is the login host and the pod."""
    return {
        "ABMSYNC_ELOQUA__COMPANY": config.company,
        "ABMSYNC_ELOQUA__USERNAME": config.username,
        "ABMSYNC_ELOQUA__PASSWORD": config.password,
        "ABMSYNC_ELOQUA__LOGIN_URL": url,
        "ABMSYNC_ELOQUA__VERIFY": ca_file,
    }
