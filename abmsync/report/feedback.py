"""Sales feedback: what sales accepted and rejected, why, and who went back to nurture.

Accepted and rejected people are those whose CRM status (``crm_status``) is
one of the rules' ``lifecycle.feedback`` values at the period's end; reasons
are their ``rejection_reason``. Recycled volume is the entries into the
``recycled`` side stage in the period, by the transition that moved them.
"""

from __future__ import annotations

import polars as pl

from abmsync.report.inputs import ReportInputs
from abmsync.report.model import Count, Feedback
from abmsync.report.stats import ratio, weekly_counts

RECYCLED = "recycled"
NO_REASON = "(no reason given)"


def build_feedback(inputs: ReportInputs) -> Feedback:
    """The sales feedback section of the report."""
    lifecycle = inputs.rules.ruleset.lifecycle
    accepted_values = list(lifecycle.feedback.accepted) if lifecycle else []
    rejected_values = list(lifecycle.feedback.rejected) if lifecycle else []
    people = inputs.people
    notes: list[str] = []
    if "crm_status" not in people.columns:
        notes.append(
            "Not available: no mapping reads the CRM's lead status (crm_status), "
            "so accepted and rejected cannot be counted."
        )
        people = people.with_columns(pl.lit(None, dtype=pl.String()).alias("crm_status"))
    if not _has_values(people, "rejection_reason"):
        notes.append(
            "No rejection reason is known for anyone: map the CRM's rejection reason field "
            "to rejection_reason (e.g. Salesforce Rejection_Reason__c) to see why sales rejects."
        )
    if "rejection_reason" not in people.columns:
        people = people.with_columns(pl.lit(None, dtype=pl.String()).alias("rejection_reason"))
    status = pl.col("crm_status").cast(pl.String)
    rejected = people.filter(status.is_in(rejected_values)).with_columns(
        pl.col("rejection_reason").cast(pl.String).str.strip_chars().replace("", None)
    )
    reasons = (
        rejected.group_by(pl.col("rejection_reason").fill_null(NO_REASON))
        .len()
        .sort(["len", "rejection_reason"], descending=[True, False])
    )
    without = rejected["rejection_reason"].null_count()
    recycled = inputs.stage_changes.filter(
        inputs.period.contains("changed_at") & (pl.col("to_stage") == RECYCLED)
    )
    by_rule = recycled.group_by("rule").len().sort(["len", "rule"], descending=[True, False])
    return Feedback(
        accepted=people.filter(status.is_in(accepted_values)).height,
        rejected=rejected.height,
        rejected_without_reason=without,
        share_without_reason=ratio(without, rejected.height),
        reasons=[Count(key=str(k), count=int(n)) for k, n in reasons.iter_rows()],
        recycled=recycled.height,
        recycled_by_rule=[Count(key=str(k), count=int(n)) for k, n in by_rule.iter_rows()],
        recycled_by_week=weekly_counts(recycled, "changed_at", "to_stage"),
        notes=notes,
    )


def _has_values(frame: pl.DataFrame, column: str) -> bool:
    return column in frame.columns and frame[column].null_count() < frame.height
