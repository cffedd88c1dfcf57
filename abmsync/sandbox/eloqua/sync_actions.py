"""Sync actions of import definitions: add to or remove from lists, set statuses.

``syncActions`` holds at most 10 ``{"action": "add" | "remove" | "setStatus",
"destination": "{{ContactList[7]}}", "status": ...}`` entries
(https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Developers/BulkAPI/Reference/sync-actions.htm);
the sync logs each one with its ELQ code (ELQ-00119 "Added members to Contact
List {listId}.", ELQ-00118 removed, ELQ-00114/00117 for account lists,
ELQ-00017/00138 for unsubscribed/subscribed, ELQ-00120 other statuses).

Guesses:
- The emulator records memberships in :attr:`EloquaStore.list_members` under
  the destination (``{{ContactList[7]}}``), statuses under ``destination:status``;
  ``setStatus`` on ``{{GlobalSubscribe}}`` changes contacts' subscription.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from abmsync.sandbox.eloqua import errors
from abmsync.sandbox.eloqua.statements import parse_statement
from abmsync.sandbox.eloqua.store import EloquaStore

SYNC_ACTIONS = ("add", "remove", "setStatus")
MAX_SYNC_ACTIONS = 10


def check_sync_actions(actions: Any) -> list[dict[str, Any]]:
    """Sync actions as given, checked: at most 10, each add/remove/setStatus to a destination."""
    if actions is None:
        return []
    if not isinstance(actions, list) or len(actions) > MAX_SYNC_ACTIONS:
        raise errors.failure("syncActions", "Must be a list of at most 10 sync actions.")
    for action in actions:
        if not isinstance(action, dict) or action.get("action") not in SYNC_ACTIONS:
            constraint = f"Action must be one of: {', '.join(SYNC_ACTIONS)}."
            raise errors.failure("syncActions", constraint, action)
        destination = action.get("destination")
        if not isinstance(destination, str) or parse_statement(destination) is None:
            constraint = "Destination must be a valid statement."
            raise errors.failure("syncActions", constraint, destination)
        if action["action"] == "setStatus" and not action.get("status"):
            raise errors.failure("syncActions", "setStatus needs a status.", action)
    return list(actions)


def run_sync_actions(
    store: EloquaStore, actions: Sequence[dict[str, Any]], entity: str, imported: Sequence[int]
) -> list[tuple[str, str, str, int]]:
    """Apply every action to the imported records (under the store lock); their log lines."""
    logs = []
    for action in actions:
        destination = str(action["destination"]).replace(" ", "")
        status = action.get("status")
        key = destination
        if action["action"] == "setStatus":
            if destination.lower() == "{{globalsubscribe}}" and entity == "contacts":
                for contact_id in imported:
                    store.contacts[contact_id].subscribed = status == "subscribed"
            key = f"{destination}:{status}"
        members = store.list_members.setdefault(key, set())
        if action["action"] == "remove":
            members.difference_update(imported)
        else:
            members.update(imported)
        code, message = _log_line(action["action"], destination, status)
        logs.append(("information", code, message, len(imported)))
    return logs


def _log_line(action: str, destination: str, status: str | None) -> tuple[str, str]:
    inner = destination.strip("{}")
    number = inner[inner.find("[") + 1 : -1] if inner.endswith("]") else inner
    if inner.lower().startswith("contactlist"):
        if action == "add":
            return "ELQ-00119", f"Added members to Contact List {number}."
        return "ELQ-00118", f"Removed members from Contact List {number}."
    if inner.lower().startswith("accountlist"):
        if action == "add":
            return "ELQ-00114", f"Added members to Account List {number}."
        return "ELQ-00117", f"Removed members from Account List {number}."
    if status == "unsubscribed":
        return "ELQ-00017", "Contacts email marked as unsubscribed."
    if status == "subscribed":
        return "ELQ-00138", "Contacts email marked as subscribed."
    return "ELQ-00120", f"Updated members status to {status} in {inner}."
