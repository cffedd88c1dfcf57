"""``abmsync sandbox serve``: run a CRM and a marketing platform's emulator to poke at.

The CRM is Salesforce or, with ``--crm dynamics``, Dynamics 365 (Dataverse,
with its own Microsoft Entra token endpoint); the marketing platform HubSpot
or, with ``--map eloqua``, Oracle Eloqua (its login host and pod in one). Both
listen on 127.0.0.1 only: the CRM and Eloqua over HTTPS with a certificate
from a locally generated CA (its file is printed, for clients to trust),
HubSpot over plain HTTP. Faults can be switched on for the whole session, e.g.
``--faults rate_limit=0.1,server_error=0.05,seed=3``. The credentials printed
are the sandbox's own fixed demo values, never real ones.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from abmsync.clikit import CliError, FiniteFloatRange
from abmsync.sandbox.faults import Faults
from abmsync.sandbox.reach import (
    dynamics_settings,
    eloqua_settings,
    hubspot_settings,
    salesforce_settings,
)
from abmsync.sandbox.server import SandboxServer, wait_for_stop
from abmsync.sync.schedule import StopSignal


def _faults(text: str | None) -> Faults:
    try:
        return Faults.parse(text or "")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from exc


def _ensure_free(option: str, port: int | None) -> None:
    """Fail with one line, before starting anything, when a requested port is taken."""
    if port is None:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise CliError(f"{option} {port}: cannot listen there: {exc.strerror or exc}") from None


@click.command("serve")
@click.option(
    "--crm",
    type=click.Choice(["salesforce", "dynamics"]),
    default="salesforce",
    show_default=True,
    help="the CRM emulator to serve beside HubSpot",
)
@click.option(
    "--crm-port",
    "--salesforce-port",
    "crm_port",
    type=click.IntRange(1, 65535),
    default=None,
    help="default: a free port",
)
@click.option(
    "--map",
    "platform",
    type=click.Choice(["hubspot", "eloqua"]),
    default="hubspot",
    show_default=True,
    help="the marketing platform emulator to serve",
)
@click.option(
    "--map-port",
    "--hubspot-port",
    "map_port",
    type=click.IntRange(1, 65535),
    default=None,
    help="default: a free port",
)
@click.option("--faults", "fault_text", help="e.g. rate_limit=0.1,server_error=0.05,seed=3")
@click.option(
    "--seconds",
    type=FiniteFloatRange(0, min_open=True),
    default=None,
    help="stop after this long (default: Ctrl-C)",
)
def serve(
    crm: str,
    crm_port: int | None,
    platform: str,
    map_port: int | None,
    fault_text: str | None,
    seconds: float | None,
) -> None:
    """Serve a CRM emulator (Salesforce or Dynamics 365) and a marketing platform's
    (HubSpot or Eloqua) on 127.0.0.1.

    Ctrl-C or SIGTERM stops them; the exit code is then 0.
    """
    faults = _faults(fault_text)
    for option, port in (("--crm-port", crm_port), ("--map-port", map_port)):
        _ensure_free(option, port)
    console = Console()
    app, settings_of = _crm(crm, faults)
    served = SandboxServer(app, tls=True, port=crm_port)
    map_app, tls, map_settings_of = _platform(platform, _faults(fault_text))
    marketing = SandboxServer(map_app, tls=tls, port=map_port)
    with StopSignal() as stop, served, marketing:
        settings = {
            **settings_of(served.url, str(served.ca_file)),
            **map_settings_of(marketing.url, str(marketing.ca_file)),
        }
        name = "Dynamics 365" if crm == "dynamics" else "Salesforce"
        map_name = "Eloqua" if platform == "eloqua" else "HubSpot"
        map_ca = f"  (CA: {marketing.ca_file})" if tls else ""
        console.print(
            f"[bold]{name}[/] {served.url}  (CA: {served.ca_file})\n"
            f"[bold]{map_name}[/] {marketing.url}{map_ca}\n"
            "Point abmsync at them (sandbox credentials, not secrets):",
            highlight=False,
            soft_wrap=True,
        )
        # One setting a line, never wrapped, so the lines can be pasted into a shell.
        for key, value in settings.items():
            console.print(f"export {key}={value}", highlight=False, soft_wrap=True, markup=False)
        console.print("Sandbox data only; serving until Ctrl-C.", highlight=False)
        wait_for_stop(stop, seconds)
    console.print("stopped")


def _platform(
    platform: str, faults: Faults
) -> tuple[Any, bool, Callable[[str, str], dict[str, str]]]:
    """The marketing platform's app, whether it speaks TLS, and the settings that reach it."""
    if platform == "eloqua":
        from abmsync.sandbox.eloqua import EloquaConfig
        from abmsync.sandbox.eloqua import create_app as eloqua_app

        elq = EloquaConfig()
        return eloqua_app(faults, config=elq), True, lambda url, ca: eloqua_settings(url, ca, elq)
    from abmsync.sandbox.hubspot.app import create_app as hubspot_app

    return hubspot_app(faults), False, lambda url, ca: hubspot_settings(url)


def _crm(crm: str, faults: Faults) -> tuple[Any, Callable[[str, str], dict[str, str]]]:
    """The CRM emulator's app, and the settings that reach it once served (url, CA file)."""
    if crm == "dynamics":
        from abmsync.sandbox.dynamics.app import DynamicsConfig
        from abmsync.sandbox.dynamics.app import create_app as dynamics_app

        dv = DynamicsConfig()
        return dynamics_app(faults, config=dv), lambda url, ca: dynamics_settings(url, ca, dv)
    from abmsync.sandbox.salesforce.app import SandboxConfig
    from abmsync.sandbox.salesforce.app import create_app as salesforce_app

    sf = SandboxConfig()
    return salesforce_app(faults, config=sf), lambda url, ca: salesforce_settings(url, ca, sf)
