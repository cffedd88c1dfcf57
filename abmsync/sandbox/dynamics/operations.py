"""Qualifying a lead and merging records, as Dataverse records them in its tables.

Functions over :class:`~abmsync.sandbox.dynamics.store.DataverseStore`; the
store's ``qualify_lead`` and ``merge`` methods call them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from abmsync.sandbox.dynamics import errors
from abmsync.sandbox.dynamics.errors import DataverseError

if TYPE_CHECKING:
    from abmsync.sandbox.dynamics.store import DataverseStore

_INACTIVE = {"account": (1, 2), "contact": (1, 2), "lead": (2, 7)}  # merged subordinate state


def qualify_lead(
    store: DataverseStore,
    lead_id: str,
    *,
    create_account: bool = True,
    create_contact: bool = True,
    create_opportunity: bool = True,
    status: int = 3,
    existing_account: str | None = None,
) -> dict[str, str]:
    """QualifyLead: create what is asked, link it to the lead, close it as Qualified.

    Returns the created records' ids by table. As in Dataverse, the contact and
    opportunity get ``originatingleadid`` and the lead ``parentaccountid``,
    ``parentcontactid`` and ``qualifyingopportunityid``.
    """
    with store.lock, store.transaction():
        lead = store.get_raw("lead", lead_id)
        if lead is None:
            raise errors.not_found("lead", lead_id)
        if lead["statecode"] != 0:
            raise DataverseError(
                400,
                errors.LEAD_CLOSED,
                "The lead is closed. You cannot convert or qualify a lead that is already closed.",
            )
        lead_id = str(lead["leadid"])
        owner = (lead["ownerid__t"], lead["ownerid"])
        made: dict[str, str] = {}
        account = existing_account
        if create_account and account is None:
            account = store.create(
                "account",
                {
                    "name": lead.get("companyname") or lead.get("fullname") or "Account",
                    "websiteurl": lead.get("websiteurl"),
                    "telephone1": lead.get("telephone1"),
                    "address1_country": lead.get("address1_country"),
                    "industrycode": _option_or_none(
                        store, "account", "industrycode", lead.get("industrycode")
                    ),
                    "numberofemployees": lead.get("numberofemployees"),
                    "revenue": lead.get("revenue"),
                    "originatingleadid": lead_id,
                    "ownerid": owner,
                },
            )
            made["account"] = account
        contact = None
        if create_contact:
            contact = store.create(
                "contact",
                {
                    name: lead.get(name)
                    for name in (
                        "firstname",
                        "lastname",
                        "jobtitle",
                        "emailaddress1",
                        "telephone1",
                        "address1_country",
                        "address1_stateorprovince",
                        "donotemail",
                    )
                }
                | {
                    "originatingleadid": lead_id,
                    "ownerid": owner,
                    "parentcustomerid": ("account", account) if account else None,
                },
            )
            made["contact"] = contact
        opportunity = None
        if create_opportunity:
            customer = (
                ("account", account) if account else (("contact", contact) if contact else None)
            )
            opportunity = store.create(
                "opportunity",
                {
                    "name": lead.get("subject") or lead.get("companyname") or "Opportunity",
                    "originatingleadid": lead_id,
                    "ownerid": owner,
                    "customerid": customer,
                    "parentaccountid": account,
                    "parentcontactid": contact,
                    "campaignid": lead.get("campaignid"),
                },
            )
            made["opportunity"] = opportunity
        store.update(
            "lead",
            lead_id,
            {
                "statecode": 1,
                "statuscode": status,
                "parentaccountid": account,
                "parentcontactid": contact,
                "qualifyingopportunityid": opportunity,
            }
            | ({"customerid": ("account", account)} if account else {}),
        )
        return made


def merge(
    store: DataverseStore,
    logical: str,
    target: str,
    subordinate: str,
    update_content: Mapping[str, Any] | None = None,
) -> None:
    """Merge: re-parent the subordinate's children to the target, then deactivate it.

    The subordinate is not deleted: it gets ``merged = true``, ``masterid`` = the
    target and an inactive state (https://learn.microsoft.com/power-apps/developer/
    data-platform/webapi/reference/merge).
    """
    if logical not in _INACTIVE:
        raise DataverseError(400, errors.ODATA, f"Merge is not supported for entity '{logical}'.")
    with store.lock, store.transaction():
        target, subordinate = target.lower(), subordinate.lower()
        for record_id in (target, subordinate):
            if store.get_raw(logical, record_id) is None:
                raise errors.not_found(logical, record_id)
        if update_content:
            store.update(logical, target, update_content)
        for child in store.tables.values():
            for attribute in child.attributes.values():
                if not attribute.is_lookup or logical not in attribute.targets:
                    continue
                if attribute.name in ("masterid", "createdby", "modifiedby"):
                    continue
                name = attribute.name
                where = f'"{name}" = ? AND "{name}__t" = ?'
                for row in store.select(child.name, where, [subordinate, logical]):
                    store.touch(child.name, row[child.primary_id], {attribute.name: target})
        state, status = _INACTIVE[logical]
        store.touch(
            logical,
            subordinate,
            {
                "merged": 1,
                "masterid": target,
                "masterid__t": logical,
                "statecode": state,
                "statuscode": status,
            },
        )


def _option_or_none(store: DataverseStore, logical: str, name: str, value: Any) -> Any:
    attribute = store.table(logical).attributes[name]
    return value if value is not None and attribute.option(value) is not None else None
