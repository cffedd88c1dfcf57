"""Assemble the whole report from its inputs: one pure function per section."""

from __future__ import annotations

from abmsync.report.abm import build_abm
from abmsync.report.attribution import Model
from abmsync.report.closed_loop import build_closed_loop
from abmsync.report.feedback import build_feedback
from abmsync.report.funnel import build_funnel
from abmsync.report.inputs import ReportInputs
from abmsync.report.model import Report
from abmsync.report.scores import build_scores
from abmsync.report.sla import build_sla


def build_report(inputs: ReportInputs, model: Model = Model.W_SHAPED) -> Report:
    """Every section of the report for ``inputs``, closed loop attributed by ``model``."""
    return Report(
        generated_for=inputs.period.end,
        start=inputs.period.start,
        rules_version=inputs.rules.version,
        people=inputs.people.height,
        accounts=inputs.companies.height,
        funnel=build_funnel(inputs),
        sla=build_sla(inputs),
        feedback=build_feedback(inputs),
        scores=build_scores(inputs),
        abm=build_abm(inputs),
        closed_loop=build_closed_loop(inputs, model),
    )
