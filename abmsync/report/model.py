"""The report's figures as typed models: what ``--json`` prints and the HTML page shows.

Every number on the page is one field of :class:`Report`; the page marks it
with its JSON path (``data-metric="funnel.stages[2].reached"``) so a test can
compare the two. Rates are fractions (0.25 is 25 %); durations say their unit
in the field name; weeks are the Monday they start on.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class Figures(BaseModel):
    """Base of every figure: immutable, and nothing but declared fields."""

    model_config = {"frozen": True, "extra": "forbid"}


# --- funnel ------------------------------------------------------------------------------


class StageReach(Figures):
    stage: str
    reached: int = Field(description="people who entered this stage or a later one")
    current: int = Field(description="people in this stage at the end of the period")
    conversion_to_next: float | None = Field(description="reached next / reached this")


class SideStage(Figures):
    stage: str
    entered: int
    current: int


class WeeklyCount(Figures):
    week: date
    key: str
    count: int


class StageTime(Figures):
    stage: str
    stints: int = Field(description="completed stays in the stage")
    median_days: float | None
    p90_days: float | None
    still_in: int


class Velocity(Figures):
    to_stage: str
    people: int
    median_days: float | None
    p90_days: float | None


class Cohort(Figures):
    dimension: str = Field(description="'lead_source' or 'rules_version'")
    value: str
    mql_week: date
    reached: dict[str, int] = Field(description="people of the cohort who reached each stage")
    conversion: float | None = Field(description="share of the cohort that reached the last stage")


class Funnel(Figures):
    main_stages: list[str]
    stages: list[StageReach]
    side_stages: list[SideStage]
    weekly: list[WeeklyCount]
    time_in_stage: list[StageTime]
    velocity_from: str
    velocity: list[Velocity]
    cohorts: list[Cohort]


# --- SLA ---------------------------------------------------------------------------------


class SlaGroup(Figures):
    stage: str
    group: str = Field(description="'all', a queue or an owner")
    started: int
    met: int
    breached: int
    open: int
    compliance: float | None = Field(description="met / (met + breached)")
    accepted: int
    median_hours_to_accept: float | None
    p90_hours_to_accept: float | None


class Sla(Figures):
    working_hours: bool
    overall: list[SlaGroup]
    by_queue: list[SlaGroup]
    by_owner: list[SlaGroup]
    breaches_by_week: list[WeeklyCount]
    reassignments: int
    escalations: int
    overdue_open: int = Field(description="open timers already past due at the period's end")


# --- sales feedback ----------------------------------------------------------------------


class Count(Figures):
    key: str
    count: int


class Feedback(Figures):
    accepted: int
    rejected: int
    rejected_without_reason: int
    share_without_reason: float | None
    reasons: list[Count]
    recycled: int
    recycled_by_rule: list[Count]
    recycled_by_week: list[WeeklyCount]
    notes: list[str]


# --- scores ------------------------------------------------------------------------------


class MatrixCell(Figures):
    grade: str
    band: int
    people: int


class Bin(Figures):
    low: float
    high: float
    people: int


class RuleContribution(Figures):
    rule: str
    kind: str
    people: int
    points: float


class Scores(Figures):
    scored: int
    rules_versions: list[str]
    grades: list[str]
    bands: list[int]
    matrix: list[MatrixCell]
    distribution: list[Bin]
    top_rules: list[RuleContribution]


# --- ABM ---------------------------------------------------------------------------------


class TierCount(Figures):
    tier: str
    accounts: int
    mqas: int
    engaged: int = Field(description="accounts with at least one engaged person")


class KeyAccount(Figures):
    id: str
    name: str | None
    tier: str
    mqa: bool
    people: int
    engaged_people: int
    account_engagement: float
    engaged_roles: int
    coverage: float
    trend: list[int] = Field(description="touchpoints per week, oldest first")
    new_people_recent: int = Field(description="people engaged for the first time lately")
    flags: list[str]


class RoleCoverage(Figures):
    role: str
    accounts: int = Field(description="accounts with an engaged person in this role")
    share: float | None = Field(description="of the accounts with any engaged person")


class TierSuggestion(Figures):
    id: str
    name: str | None
    tier: str
    suggested: str
    reason: str


class Abm(Figures):
    expected_roles: list[str]
    trend_weeks: list[date]
    tiers: list[TierCount]
    mqas: int
    key_accounts: list[KeyAccount]
    coverage_by_role: list[RoleCoverage]
    penetration: list[WeeklyCount]
    red_flags: int
    tier_suggestions: list[TierSuggestion]


# --- closed loop -------------------------------------------------------------------------


class Credit(Figures):
    key: str
    pipeline: float
    revenue: float


class CreditedTouch(Figures):
    opportunity: str
    touchpoint: str
    type: str
    credited_via: str = Field(description="'contact roles', or 'account' for a deal without them")
    occurred_at: datetime
    share: float
    pipeline: float


class ModelTotals(Figures):
    model: str
    by_channel: list[Credit]


class ClosedLoop(Figures):
    model: str
    model_description: str
    opportunities: int
    pipeline: float
    won: int
    revenue: float
    sourced_opportunities: int
    sourced_pipeline: float
    sourced_revenue: float
    influenced_opportunities: int
    influenced_pipeline: float
    influenced_revenue: float
    by_channel: list[Credit]
    by_campaign: list[Credit]
    sourced_by_campaign: list[Credit] = Field(description="pipeline by primary campaign source")
    by_contact_roles: int = Field(description="opportunities credited through contact roles")
    by_account: int = Field(description="opportunities without roles, credited by account")
    models: list[ModelTotals]
    touches: list[CreditedTouch]
    notes: list[str]


# --- the report --------------------------------------------------------------------------


class Report(Figures):
    """Everything ``abmsync report`` shows, for one period."""

    generated_for: datetime = Field(description="end of the period; scores are as of then")
    start: datetime | None
    rules_version: str
    people: int
    accounts: int
    funnel: Funnel
    sla: Sla
    feedback: Feedback
    scores: Scores
    abm: Abm
    closed_loop: ClosedLoop
