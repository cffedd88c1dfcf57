"""``abmsync sandbox serve``: run the Salesforce and HubSpot emulators for people to poke at.

Both listen on 127.0.0.1 only: Salesforce over HTTPS with a certificate from a
locally generated CA (its file is printed, for clients to trust), HubSpot over
plain HTTP. Faults can be switched on for the whole session, e.g.
``--faults rate_limit=0.1,server_error=0.05,seed=3``. The credentials printed
are the sandbox's own fixed demo values, never real ones.
"""

from __future__ import annotations

import socket

import click
from rich.console import Console

from abmsync.clikit import CliError, FiniteFloatRange
from abmsync.sandbox.faults import Faults
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
    "--salesforce-port", type=click.IntRange(1, 65535), default=None, help="default: a free port"
)
@click.option(
    "--hubspot-port", type=click.IntRange(1, 65535), default=None, help="default: a free port"
)
@click.option("--faults", "fault_text", help="e.g. rate_limit=0.1,server_error=0.05,seed=3")
@click.option(
    "--seconds",
    type=FiniteFloatRange(0, min_open=True),
    default=None,
    help="stop after this long (default: Ctrl-C)",
)
def serve(
    salesforce_port: int | None,
    hubspot_port: int | None,
    fault_text: str | None,
    seconds: float | None,
) -> None:
    """Serve the Salesforce and HubSpot emulators on 127.0.0.1 until stopped.

    Ctrl-C or SIGTERM stops them; the exit code is then 0.
    """
    from abmsync.sandbox.hubspot.app import create_app as hubspot_app
    from abmsync.sandbox.salesforce.app import SandboxConfig
    from abmsync.sandbox.salesforce.app import create_app as salesforce_app

    faults = _faults(fault_text)
    for option, port in (("--salesforce-port", salesforce_port), ("--hubspot-port", hubspot_port)):
        _ensure_free(option, port)
    console = Console()
    config = SandboxConfig()
    salesforce = SandboxServer(
        salesforce_app(faults, config=config), tls=True, port=salesforce_port
    )
    hubspot = SandboxServer(hubspot_app(_faults(fault_text)), port=hubspot_port)
    with StopSignal() as stop, salesforce, hubspot:
        user, password = next(iter(config.users.items()))
        settings = {
            "ABMSYNC_SALESFORCE__INSTANCE_URL": salesforce.url,
            "ABMSYNC_SALESFORCE__CLIENT_ID": config.client_id,
            "ABMSYNC_SALESFORCE__CLIENT_SECRET": config.client_secret,
            "ABMSYNC_SALESFORCE__USERNAME": user,
            "ABMSYNC_SALESFORCE__PASSWORD": password,
            "ABMSYNC_SALESFORCE__VERIFY": str(salesforce.ca_file),
            "ABMSYNC_HUBSPOT__HOST": hubspot.url,
            "ABMSYNC_HUBSPOT__ACCESS_TOKEN": "sandbox-token",
        }
        console.print(
            f"[bold]Salesforce[/] {salesforce.url}  (CA: {salesforce.ca_file})\n"
            f"[bold]HubSpot[/] {hubspot.url}\n"
            "Point abmsync at them (sandbox credentials, not secrets):",
            highlight=False,
            soft_wrap=True,
        )
        # One setting a line, never wrapped, so the lines can be pasted into a shell.
        for name, value in settings.items():
            console.print(f"export {name}={value}", highlight=False, soft_wrap=True, markup=False)
        console.print("Sandbox data only; serving until Ctrl-C.", highlight=False)
        wait_for_stop(stop, seconds)
    console.print("stopped")
