"""The marketing week of :func:`abmsync.sandbox.week.simulate_week`, played in Eloqua.

:class:`EloquaWeek` gives :func:`~abmsync.sandbox.week.marketing_week` what it
needs of an Eloqua emulator's store: contacts by email, the companies'
domains, sign-ups as new contacts at their company (a ``Subscribe`` for a
newsletter sign-up), and touches as activities with the ones Eloqua records
around them (as :mod:`abmsync.sandbox.seed_eloqua` loads them): an
``EmailSend`` before each email activity, a ``WebVisit`` per page view. One
bounceback arrives late: it is dated two days before the week, from a send
the last sync already read, as a mail server's delayed bounce is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from abmsync.sandbox.eloqua.store import EloquaStore
from abmsync.sandbox.seed_eloqua import (
    ACTIVITY_TYPES,
    EMAIL_ACTIVITIES,
    NEWSLETTER,
    SEND_LEAD,
    WEBSITE,
    _activity,
    _email_activity,
    _visits,
)
from abmsync.sandbox.week import NewTouch, SignUp, Touch

LATE_BOUNCE = timedelta(days=2)


class EloquaWeek:
    """The marketing week in an Eloqua emulator's store."""

    def __init__(self, store: EloquaStore) -> None:
        self.store = store
        self._assets = _Assets()
        with store.locked():
            self._campaigns = {c["name"]: i for i, c in store.campaigns.items()}

    def contacts_by_email(self) -> dict[str, int]:
        with self.store.locked():
            return {
                str(r.values["C_EmailAddress"]).lower(): r.id
                for r in self.store.contacts.values()
                if r.values.get("C_EmailAddress")
            }

    def company_domains(self) -> set[str]:
        with self.store.locked():
            return {
                str(r.values[WEBSITE]) for r in self.store.accounts.values() if WEBSITE in r.values
            }

    def add_signups(self, signups: Sequence[SignUp]) -> list[str]:
        with self.store.locked():
            by_domain = {
                str(r.values[WEBSITE]): r.id
                for r in self.store.accounts.values()
                if WEBSITE in r.values
            }
        rows = [
            {
                "C_EmailAddress": s.email,
                "C_FirstName": s.first_name,
                "C_LastName": s.last_name,
                "C_Title": s.title,
                "C_Company": s.company,
                "C_Country": s.country,
                "C_DateCreated": s.at,
            }
            for s in signups
        ]
        ids = self.store.add_contacts(rows)
        for contact, signup in zip(ids, signups, strict=True):
            self.store.link_contact_to_account(contact, by_domain.get(signup.domain))
        newsletter = [
            self._email(Touch(str(i), s.email, "subscribe", None, s.at), NEWSLETTER)
            for i, s in zip(ids, signups, strict=True)
            if s.stage == "subscriber"
        ]
        if newsletter:
            self.store.add_activities("Subscribe", newsletter)
        return [str(i) for i in ids]

    def add_touches(self, touches: Sequence[Touch]) -> list[NewTouch]:
        done: list[NewTouch] = []
        for touch in sorted(touches, key=lambda t: (t.at, t.contact_id, t.type)):
            kind = ACTIVITY_TYPES[touch.type]
            campaigns = self._campaign_ids(touch.campaign)
            values = _activity(kind, self._row(touch), campaigns, self._assets)
            if kind in EMAIL_ACTIVITIES:
                send = self._email(touch, touch.campaign or NEWSLETTER)
                self.store.add_activities(
                    "EmailSend", [{**send, "ActivityDate": touch.at - SEND_LEAD}]
                )
            (made,) = self.store.add_activities(kind, [values])
            if kind == "PageView":
                self.store.add_activities("WebVisit", _visits([("", values)]))
            done.append(_new_touch(kind, made, touch))
        if touches:
            done.append(self._late_bounce(min(touches, key=lambda t: (t.at, t.contact_id))))
        return done

    def _late_bounce(self, first: Touch) -> NewTouch:
        """A bounceback dated before the week, arriving now."""
        at = first.at - LATE_BOUNCE
        late = Touch(first.contact_id, first.email, "email_bounce", None, at, NEWSLETTER)
        values = _activity(
            "Bounceback", self._row(late), self._campaign_ids(NEWSLETTER), self._assets
        )
        (made,) = self.store.add_activities("Bounceback", [values])
        return _new_touch("Bounceback", made, late)

    def _email(self, touch: Touch, campaign: str) -> dict[str, Any]:
        return _email_activity(self._row(touch), self._campaign_ids(campaign), self._assets)

    @staticmethod
    def _row(touch: Touch) -> dict[str, Any]:
        return {
            "contact": touch.contact_id,
            "email": touch.email,
            "occurred_at": touch.at,
            "url": touch.url,
            "campaign": touch.campaign,
        }

    def _campaign_ids(self, name: str | None) -> dict[str, int]:
        """Campaign ids by name, adding the campaign if the site has none of that name."""
        name = name or NEWSLETTER
        if name not in self._campaigns:
            self._campaigns[name] = self.store.add_campaign(name)
        return self._campaigns


class _Assets(dict[str, int]):
    """Email asset ids by name: the same id for the same name, new ones counted up."""

    def __missing__(self, name: str) -> int:
        self[name] = 5000 + len(self)
        return self[name]


def _new_touch(kind: str, activity_id: int, touch: Touch) -> NewTouch:
    return NewTouch(
        f"{kind}:{activity_id}", touch.contact_id, touch.email, touch.type, touch.url, touch.at
    )
