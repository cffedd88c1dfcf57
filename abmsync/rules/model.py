"""The rules file as typed models.

An admin writes one YAML file; :func:`abmsync.rules.loader.load_rules` parses
it into a :class:`RuleSet`. Every model forbids unknown keys so a typo is an
error with a location, never a silently ignored rule. The JSON Schema of
:class:`RuleSet` (``abmsync rules schema``) lets editors check files as
admins type.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from abmsync.schema import BuyingRole

Scalar = str | int | float | bool | None
FieldType = Literal["text", "number", "integer", "boolean", "datetime"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_DURATION_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FitRule(StrictModel):
    """Points for who someone is; ``when`` sees person and account fields."""

    name: str = Field(min_length=1, description="shown in reasons, e.g. 'target industry'")
    when: str = Field(description="SQL boolean expression, e.g. \"industry IN ('Software')\"")
    points: float = Field(description="may be negative")


class EventRule(StrictModel):
    """Points for each matching touchpoint, decayed by its age."""

    name: str | None = Field(default=None, description="defaults to the type")
    type: str | None = Field(default=None, description="touchpoint type, e.g. form_submit")
    when: str | None = Field(default=None, description="condition on touchpoint fields")
    points: float
    cap: float | None = Field(default=None, gt=0, description="most points this rule can give")

    @model_validator(mode="after")
    def _type_or_when(self) -> EventRule:
        if self.type is None and self.when is None:
            raise ValueError("an event rule needs a 'type', a 'when' or both")
        return self

    @property
    def label(self) -> str:
        """The name used in reasons."""
        if self.name:
            return self.name
        return (self.type or "event").replace("_", " ")


class Engagement(StrictModel):
    half_life_days: float | None = Field(default=30, gt=0, description="null = no decay")
    window_days: float = Field(
        default=180, gt=0, description="older touchpoints are ignored (this old still counts)"
    )
    events: list[EventRule] = Field(default_factory=list)
    types: list[str] = Field(
        default_factory=list, description="touchpoint types beyond the built-in ones"
    )


class TierRule(StrictModel):
    tier: Literal["strategic", "lite", "programmatic", "none"]
    when: str


class AccountRules(StrictModel):
    tiers: list[TierRule] = Field(default_factory=list, description="first match wins")
    fit: list[FitRule] = Field(default_factory=list, description="rules on account fields")
    buying_roles: dict[BuyingRole, str] = Field(
        default_factory=dict, description="role: condition on person fields (title, seniority)"
    )
    expected_roles: list[BuyingRole] | None = Field(
        default=None, description="roles a full buying centre has; default: all in buying_roles"
    )
    engaged_min: float | None = Field(
        default=None, description="engagement that counts a person as engaged; default: band 3"
    )
    mqa: str | None = Field(default=None, description="marketing-qualified account condition")


class StageMove(StrictModel):
    """A move to a stage, allowed from some stages (``"*"``: any)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    to: str
    from_: list[str] | Literal["*"] = Field(default="*", alias="from")

    @field_validator("from_", mode="before")
    @classmethod
    def _one_stage_is_a_list(cls, value: object) -> object:
        if isinstance(value, str) and value != "*":
            return [value]
        return value


class Transition(StageMove):
    name: str | None = None
    when: str


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``48h``, ``2d``, ``30m`` or ``1w``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 48h, 2d, 30m, 1w)")
    return float(match.group(1)) * _DURATION_SECONDS[match.group(2)]


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-(([01]\d|2[0-3]):[0-5]\d|24:00)$")


class Calendar(StrictModel):
    """Working time for SLA timers: hours on working days in one time zone."""

    timezone: str = Field(default="UTC", description="IANA name, e.g. Europe/Berlin")
    hours: str | None = Field(default=None, description="e.g. '09:00-17:00'; none = all day")
    days: list[Weekday] = Field(default_factory=lambda: list(WORKDAYS))
    holidays: list[date] = Field(default_factory=list, description="dates off, e.g. 2026-12-25")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)"
            ) from exc
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is None:
            return None
        match = _HOURS.match(value.strip())
        if not match or value.strip()[:5] >= value.strip()[6:]:
            raise ValueError(f"hours must look like 09:00-17:00, not {value!r}")
        return value.strip()


class SlaRule(StrictModel):
    stage: str
    within: str = Field(description="e.g. 48h or 2d")
    on_breach: Literal["notify", "reassign", "escalate"] = "notify"
    escalate_to: str | None = Field(default=None, description="owner id for on_breach: escalate")
    calendar: str | None = Field(
        default=None, description="calendar name; default: the routing queue's, else all day"
    )

    @field_validator("within")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _escalation_target(self) -> SlaRule:
        if self.on_breach == "escalate" and not self.escalate_to:
            raise ValueError("on_breach: escalate needs escalate_to: <owner id>")
        return self

    @property
    def seconds(self) -> float:
        return parse_duration(self.within)


class FastTrack(StageMove):
    """A touchpoint that sends a person straight to a stage, skipping nurture."""

    name: str
    type: str | None = None
    when: str | None = Field(default=None, description="condition on touchpoint fields")
    within_days: float = Field(
        default=14,
        gt=0,
        description="touchpoints at most this many days old count (and after stage entry)",
    )

    @model_validator(mode="after")
    def _type_or_when(self) -> FastTrack:
        if self.type is None and self.when is None:
            raise ValueError("a fast track needs a 'type', a 'when' or both")
        return self


class Feedback(StrictModel):
    """How sales' verdict in the CRM reads: status values and the rejection reason."""

    accepted: list[str] = Field(default_factory=list, description="crm_status values = accepted")
    rejected: list[str] = Field(default_factory=list, description="crm_status values = rejected")
    reason_required: bool = Field(
        default=True, description="flag rejections that give no rejection_reason"
    )


class Lifecycle(StrictModel):
    stages: list[str] = Field(min_length=1)
    initial: str | None = Field(default=None, description="stage of new people; default: first")
    terminal: list[str] = Field(default_factory=list)
    fast_track: list[FastTrack] = Field(default_factory=list)
    transitions: list[Transition] = Field(default_factory=list)
    feedback: Feedback = Field(default_factory=Feedback)
    sla: list[SlaRule] = Field(default_factory=list)

    @property
    def initial_stage(self) -> str:
        return self.initial or self.stages[0]


class RoundRobin(StrictModel):
    round_robin: str


class Territory(StrictModel):
    territory: str


Assign = Annotated[
    Literal["account_owner"] | RoundRobin | Territory,
    Field(description="account_owner, {round_robin: queue} or {territory: table}"),
]


class RoutingRule(StrictModel):
    name: str
    when: str | None = None
    assign: Assign
    reassign: bool = Field(
        default=False, description="route people who already have an owner again"
    )


class QueueMember(StrictModel):
    owner: str
    weight: int = Field(default=1, ge=1)


class Queue(StrictModel):
    members: list[QueueMember] = Field(min_length=1)
    max_open: int | None = Field(default=None, ge=1, description="open people per member")
    calendar: str | None = Field(default=None, description="working time for SLA timers")


def _norway(value: object) -> object:
    if value is False:
        return "NO"
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class TerritoryRow(StrictModel):
    """One row of a territory table; the first row that matches wins."""

    country: list[str] | None = None
    state: list[str] | None = None
    postal: list[str] | None = Field(default=None, description="prefixes; '8*' or '80331'")
    queue: str | None = None
    owner: str | None = None

    @field_validator("country", "state", "postal", mode="before")
    @classmethod
    def _one_is_a_list(cls, value: object) -> object:
        values = value if isinstance(value, list) else [value]
        # YAML 1.1 reads an unquoted NO (Norway) as false: take it back.
        return [_norway(v) for v in values] if value is not None else None

    @model_validator(mode="after")
    def _one_target(self) -> TerritoryRow:
        if (self.queue is None) == (self.owner is None):
            raise ValueError("a territory row names either a queue or an owner")
        return self


class Routing(StrictModel):
    on_enter: str | list[str]
    rules: list[RoutingRule] = Field(default_factory=list)
    queues: dict[str, Queue] = Field(default_factory=dict)
    territories: dict[str, list[TerritoryRow]] = Field(default_factory=dict)
    fallback: str | None = Field(default=None, description="queue when no rule can assign")
    open_stages: list[str] | None = Field(
        default=None, description="stages that count against capacity; default: on_enter"
    )

    @property
    def entry_stages(self) -> list[str]:
        return [self.on_enter] if isinstance(self.on_enter, str) else list(self.on_enter)

    @property
    def capacity_stages(self) -> list[str]:
        return self.open_stages if self.open_stages is not None else self.entry_stages


class TouchpointCase(StrictModel):
    type: str
    days_ago: float = 0
    url: str | None = None
    campaign: str | None = None


class Expectation(StrictModel):
    fit: float | None = None
    engagement: float | None = None
    total: float | None = None
    grade: str | None = None
    band: int | None = None
    priority: str | None = None
    stage: str | None = None
    moved_by: str | None = Field(
        default=None, description="transition or fast track that moved them"
    )
    tier: str | None = None
    roles: list[BuyingRole] | None = None
    mqa: bool | None = None
    fired: list[str] = Field(default_factory=list, description="rules that must fire")
    not_fired: list[str] = Field(default_factory=list, description="rules that must not fire")


class RuleTest(StrictModel):
    name: str
    person: dict[str, Scalar] = Field(default_factory=dict)
    account: dict[str, Scalar] = Field(default_factory=dict)
    touchpoints: list[TouchpointCase] = Field(default_factory=list)
    expect: Expectation


# What each write-back key holds: the result column that fills the CRM field.
WRITEBACK_COLUMNS: dict[str, str] = {
    "score": "crm_score",  # the total, on the admins' ``score_scale`` if they set one
    "fit": "fit",
    "engagement": "engagement",
    "grade": "grade",
    "priority": "priority",
    "stage": "stage",
    "tier": "account_tier",
    "reasons": "reasons",
    "owner": "owner_id",
    "mql_date": "mql_date",  # when the person last entered the MQL stage
    "sla_due": "sla_due",  # when the open SLA timer falls due
    "assignment_reason": "assignment_reason",  # the latest routing rule and reason
    "hubspot_stage": "hubspot_stage",  # the stage as HubSpot's lifecyclestage value
}
# What each account write-back key holds: the account brief column that fills the field
# (on the CRM's account object: Salesforce Account, HubSpot companies, Dynamics account).
ACCOUNT_WRITEBACK_COLUMNS: dict[str, str] = {
    "account_score": "account_score",  # account fit + the engagement of its people
    "account_fit": "account_fit",
    "account_engagement": "account_engagement",
    "tier": "tier",
    "mqa": "mqa",  # marketing-qualified account (true/false)
    "coverage": "coverage_percent",  # engaged roles over expected roles, in percent
    "engaged_people": "engaged_people",
    "engaged_roles": "engaged_roles_text",  # "decider, influencer (2 of 5)"
    "buying_committee": "buying_committee",  # one line per person: name, title, roles, last touch
    "recent_touchpoints": "recent_touchpoints",  # one line per touchpoint: date, type, name
    "last_touch": "last_touch",  # the account's newest engaging touchpoint (a date)
}
TOUCHPOINTS_KEY = "touchpoints"
Policy = Literal["crm_wins", "abmsync_wins"]
ACCOUNT_KEYS = frozenset(ACCOUNT_WRITEBACK_COLUMNS)


def _owner_sticks() -> dict[str, Policy]:
    """By default an owner a manager set by hand in the CRM stays; scores are abmsync's."""
    return {"owner": "crm_wins"}


class TouchpointTarget(StrictModel):
    """Where touchpoint history goes in one system: an object upserted by a key field."""

    object: str = Field(description="e.g. ABM_Touchpoint__c (Salesforce) or notes (HubSpot)")
    external_id: str = Field(description="unique field holding abmsync's touchpoint key")
    exclude_types: list[str] = Field(
        default_factory=list,
        description="touchpoint types not written as history (e.g. email_send: a record per "
        "email sent would bury what people did)",
    )


class ReasonsFormat(StrictModel):
    """How the reasons text reads, on CRM records and in the score ledger.

    The defaults keep it stable from day to day: a touchpoint is dated, not
    aged ("3 days ago" would change every day), and decayed points are
    rounded like the score, so the text changes only when the score does.
    """

    when: Literal["date", "age", "none"] = Field(
        default="date",
        description="date of the newest matching touchpoint (2026-11-28), its age "
        "(3 days ago; changes daily), or nothing",
    )
    digits: int | None = Field(
        default=None,
        ge=0,
        le=4,
        description="decimals of decayed points; default: the write-back's score_digits",
    )
    points: Literal["earned", "base"] = Field(
        default="earned",
        description="what each engagement rule earns now (decayed; adds up to the score), "
        "or its undecayed points × matches, capped (changes only with new activity)",
    )


class ScoreScale(StrictModel):
    """A bounded scale for the score written to CRM fields; the ledger keeps raw points.

    With ``t`` the raw total, ``lo``/``hi`` the bounds:

    - ``clamp``: ``min(max(t, lo), hi)``;
    - ``linear``: ``lo + (hi - lo) * clamp(t / reference, 0, 1)``: 0 points (or
      fewer) is ``lo``, ``reference`` points (or more) is ``hi``;
    - ``logistic``: ``lo + (hi - lo) / (1 + exp(-(t - midpoint) / spread))``:
      ``midpoint`` points sit half way, never quite reaching either bound.
    """

    min: float = Field(default=0, description="lowest value written")
    max: float = Field(default=100, description="highest value written")
    mapping: Literal["clamp", "linear", "logistic"] = Field(
        default="clamp", description="how raw points map onto the scale (see the formula)"
    )
    reference: float | None = Field(
        default=None, gt=0, description="linear: the raw points that reach max"
    )
    midpoint: float | None = Field(default=None, description="logistic: raw points at mid-scale")
    spread: float | None = Field(
        default=None, gt=0, description="logistic: raw points per step of steepness (e-fold)"
    )

    @model_validator(mode="after")
    def _complete(self) -> ScoreScale:
        if self.max <= self.min:
            raise ValueError("score_scale: max must be above min")
        if self.mapping == "linear" and self.reference is None:
            raise ValueError("score_scale: linear needs reference: <raw points that reach max>")
        if self.mapping == "logistic" and (self.midpoint is None or self.spread is None):
            raise ValueError("score_scale: logistic needs midpoint and spread")
        return self


# HubSpot's lifecyclestage options (the contact property's default values), earliest first.
HubSpotStage = Literal[
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
]


class WriteBack(StrictModel):
    """Which CRM fields abmsync owns and how it writes them.

    In YAML the systems sit beside the options::

        writeback:
          conflicts: {owner: crm_wins}     # per key; the rest: abmsync_wins
          salesforce:
            Lead: {score: ABM_Score__c, owner: OwnerId}
            touchpoints: {object: ABM_Touchpoint__c, external_id: ABM_Touchpoint_Key__c}
    """

    conflicts: Policy | dict[str, Policy] = Field(
        default_factory=lambda: _owner_sticks(),
        description="who wins when someone edited an owned field in the CRM: one policy, "
        "or one per write-back key (unnamed keys: abmsync_wins)",
    )
    score_digits: int = Field(
        default=0, ge=0, le=4, description="decimals of numbers written, so decay does not churn"
    )
    touchpoint_days: int = Field(
        default=90, ge=1, description="touchpoints younger than this are written as history"
    )
    reasons_format: ReasonsFormat = Field(default_factory=ReasonsFormat)
    score_scale: ScoreScale | None = Field(
        default=None,
        description="map the score written to CRM fields onto a bounded scale (e.g. "
        "{min: 0, max: 100, mapping: linear, reference: 150}); default: raw points",
    )
    hubspot_stages: dict[str, HubSpotStage] = Field(
        default_factory=dict,
        description="lifecycle stage -> HubSpot lifecyclestage value, e.g. {nurture: lead}; "
        "stages not named keep the default (sal/sql: salesqualifiedlead, recycled: lead, "
        "a stage HubSpot lacks: other)",
    )
    systems: dict[str, dict[str, dict[str, str | list[str]]]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _systems_beside_options(cls, value: object) -> object:
        if not isinstance(value, dict) or "systems" in value:
            return value
        options = {
            *("conflicts", "score_digits", "touchpoint_days", "reasons_format", "score_scale"),
            "hubspot_stages",
        }
        return {
            **{k: v for k, v in value.items() if k in options},
            "systems": {k: v for k, v in value.items() if k not in options},
        }

    @model_validator(mode="after")
    def _known_keys(self) -> WriteBack:
        for system, objects in self.systems.items():
            for obj, fields in objects.items():
                if obj == TOUCHPOINTS_KEY:
                    TouchpointTarget.model_validate(fields)
                    continue
                unknown = sorted(set(fields) - set(WRITEBACK_COLUMNS) - ACCOUNT_KEYS)
                if unknown:
                    raise ValueError(
                        f"{system}.{obj}: unknown write-back key {unknown[0]!r}; "
                        f"use {', '.join(WRITEBACK_COLUMNS)} (people) or "
                        f"{', '.join(ACCOUNT_WRITEBACK_COLUMNS)} (accounts)"
                    )
                account_only = sorted(set(fields) & (ACCOUNT_KEYS - set(WRITEBACK_COLUMNS)))
                person_only = sorted(set(fields) - ACCOUNT_KEYS)
                if account_only and person_only:
                    raise ValueError(
                        f"{system}.{obj}: {account_only[0]!r} is an account key and "
                        f"{person_only[0]!r} a person key; an object holds one kind"
                    )
                listed = sorted(k for k, v in fields.items() if not isinstance(v, str))
                if listed:
                    raise ValueError(f"{system}.{obj}.{listed[0]}: give one field name, not a list")
        keys = self.conflicts if isinstance(self.conflicts, dict) else {}
        unknown = sorted(set(keys) - set(WRITEBACK_COLUMNS) - ACCOUNT_KEYS)
        if unknown:
            raise ValueError(f"conflicts: unknown write-back key {unknown[0]!r}")
        return self

    @property
    def reasons_digits(self) -> int:
        """Decimals of the decayed points in the reasons text."""
        digits = self.reasons_format.digits
        return self.score_digits if digits is None else digits

    def policy(self, key: str) -> Policy:
        """The conflict policy of one write-back key."""
        if isinstance(self.conflicts, str):
            return self.conflicts
        return self.conflicts.get(key, "abmsync_wins")

    def objects(self, system: str) -> dict[str, dict[str, str]]:
        """Field maps (write-back key -> vendor field) per object of ``system``."""
        return {
            obj: {key: name for key, name in fields.items() if isinstance(name, str)}
            for obj, fields in self.systems.get(system, {}).items()
            if obj != TOUCHPOINTS_KEY
        }

    def touchpoints(self, system: str) -> TouchpointTarget | None:
        """Where ``system`` keeps touchpoint history, if it does."""
        raw = self.systems.get(system, {}).get(TOUCHPOINTS_KEY)
        return TouchpointTarget.model_validate(raw) if raw is not None else None


class RuleSet(StrictModel):
    """A whole rules file."""

    version: Literal[1] = 1
    fields: dict[str, FieldType] = Field(
        default_factory=dict,
        description="custom fields in your data and their type, e.g. is_competitor: boolean",
    )
    fit: list[FitRule] = Field(default_factory=list)
    engagement: Engagement = Field(default_factory=Engagement)
    grades: dict[str, float] = Field(
        default_factory=lambda: {"A": 40.0, "B": 25.0, "C": 10.0},
        description="fit thresholds, best first; below the last is D",
    )
    bands: dict[int, float] = Field(
        default_factory=lambda: {1: 60.0, 2: 30.0, 3: 10.0},
        description="engagement thresholds; below the last is the next number",
    )
    accounts: AccountRules = Field(default_factory=AccountRules)
    calendars: dict[str, Calendar] = Field(default_factory=dict)
    lifecycle: Lifecycle | None = None
    routing: Routing | None = None
    tests: list[RuleTest] = Field(default_factory=list)
    writeback: WriteBack = Field(default_factory=WriteBack)

    @property
    def lowest_grade(self) -> str:
        """The grade below every threshold (D after A, B, C)."""
        last = list(self.grades)[-1] if self.grades else "C"
        return chr(ord(last[0]) + 1) if len(last) == 1 and last.isalpha() else "D"

    @property
    def lowest_band(self) -> int:
        return max(self.bands, default=3) + 1

    @property
    def engaged_min(self) -> float:
        """Engagement at which a person counts as engaged for account coverage."""
        if self.accounts.engaged_min is not None:
            return self.accounts.engaged_min
        return min(self.bands.values(), default=10.0)
