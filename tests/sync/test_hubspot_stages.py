"""Admins choose the HubSpot lifecyclestage each of their stages is written as."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from abmsync.rules.loader import RulesError, load_rules
from abmsync.sync.person_fields import HUBSPOT_ORDER, HUBSPOT_STAGES, hubspot_stage
from tests.sync.crm_env import AS_OF, RULES, CrmEnv

WRITEBACK = "writeback:                             #"


def _rules(tmp_path: Path, mapping: str) -> Path:
    """The example rules with ``mapping`` as the first line of the writeback section."""
    text = RULES.read_text()
    assert text.count(WRITEBACK) == 1
    path = tmp_path / "rules.yaml"
    path.write_text(text.replace(WRITEBACK, f"writeback:\n  hubspot_stages: {mapping}\n  #"))
    return path


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_the_default_table_applies_to_every_stage_not_chosen() -> None:
    stages = pl.DataFrame({"stage": ["nurture", "sal", "recycled", "mql", "odd", None]})
    chosen = stages.select(
        hubspot_stage(pl.col("stage"), {"nurture": "lead", "sal": "opportunity"})
    )
    assert chosen["stage"].to_list() == [
        "lead",
        "opportunity",
        "lead",
        "marketingqualifiedlead",
        "other",
        None,
    ]
    default = stages.select(hubspot_stage(pl.col("stage")))["stage"].to_list()
    assert default[:2] == ["other", HUBSPOT_STAGES["sal"]]
    assert set(HUBSPOT_STAGES.values()) <= set(HUBSPOT_ORDER)


def test_a_value_hubspot_does_not_offer_is_one_error_at_its_line(tmp_path: Path) -> None:
    path = _rules(tmp_path, "{recycled: nurturing}")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    (problem,) = caught.value.diagnostics
    assert problem.line == _line_of(path, "hubspot_stages")
    assert "'salesqualifiedlead'" in problem.message  # the options are named
    assert str(problem).startswith(f"{path}:{problem.line}:")


def test_a_stage_the_lifecycle_lacks_is_one_error_at_its_line(tmp_path: Path) -> None:
    path = _rules(tmp_path, "{recyled: lead}")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    (problem,) = caught.value.diagnostics
    assert problem.line == _line_of(path, "hubspot_stages")
    assert "unknown stage 'recyled'" in problem.message
    assert "recycled" in problem.message  # did you mean


def test_a_chosen_value_is_what_lands_on_the_hubspot_contact(env: CrmEnv, tmp_path: Path) -> None:
    env.loaded = load_rules(_rules(tmp_path, "{mql: salesqualifiedlead}"))
    contact = next(
        r
        for r in env.hubspot.records["contacts"].values()
        if r.properties["email"] == "vera.lang@acme-robotics.com"
    )
    stamp = (AS_OF - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    note = env.hubspot.create(
        "notes",
        {
            "hs_timestamp": stamp,
            "hs_note_body": "Contact sales form",
            "abm_activity_type": "form_submit",
            "abm_activity_url": "https://www.example.com/contact-sales",
        },
    )
    env.hubspot.associate("notes", str(note.id), "contacts", str(contact.id), 202)
    run = env.sync()
    assert run.status == "succeeded", run.message
    rows = {r.get("email"): r for r in env.hs_rows("contacts")}
    assert rows["vera.lang@acme-robotics.com"]["lifecyclestage"] == "salesqualifiedlead"
    assert rows["otto@globex.com"]["lifecyclestage"] == "lead"  # not chosen: the default
    again = env.sync()
    assert again.counts()["planned"] == 0
