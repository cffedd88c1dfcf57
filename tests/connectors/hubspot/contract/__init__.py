"""Every HubSpot emulator answer a test sees, checked against HubSpot's published specs."""

from .check import Exchange, Violation, check
from .recorder import (
    LEDGER,
    ContractRecorder,
    Ledger,
    session_contract,
    watch,
    watching_every_served_emulator,
)
from .spec import SPECS, Contract

__all__ = [
    "LEDGER",
    "SPECS",
    "Contract",
    "ContractRecorder",
    "Exchange",
    "Ledger",
    "Violation",
    "check",
    "session_contract",
    "watch",
    "watching_every_served_emulator",
]
