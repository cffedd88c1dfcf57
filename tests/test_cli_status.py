"""abmsync status and deadletters list read what runs left in the state database."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from abmsync.cli import main
from abmsync.sync.store import Store


def test_status_and_dead_letters_show_runs_cursors_and_rejections(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with Store.open(url) as store:
        run = store.start_run()
        store.set_cursor("salesforce", "Lead", '{"modstamp": "2026-11-01T00:00:00Z"}', run_id=run)
        store.add_dead_letter(
            "salesforce",
            "Lead",
            "00Q1",
            {"ABM_Grade__c": "Z"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "bad value for grade",
        )
        store.finish_run(run, "succeeded", {"read": 120, "written": 7}, api_calls={"salesforce": 4})
    runner = CliRunner()
    status = json.loads(runner.invoke(main, ["status", "--database", url, "--json"]).output)
    assert status["runs"][0]["counts"] == {"read": 120, "written": 7}
    assert status["runs"][0]["api_calls"] == {"salesforce": 4}
    assert status["cursors"][0]["obj"] == "Lead"
    assert status["dead_letters"] == 1
    table = runner.invoke(main, ["status", "--database", url])
    assert table.exit_code == 0
    assert "Open dead letters: 1" in table.output
    letters = runner.invoke(main, ["deadletters", "list", "--database", url])
    assert letters.exit_code == 0
    assert "00Q1" in letters.output
    listed = json.loads(
        runner.invoke(main, ["deadletters", "list", "--database", url, "--json"]).output
    )
    assert [(d["record_id"], d["error_code"]) for d in listed] == [
        ("00Q1", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    ]
    none = runner.invoke(
        main, ["deadletters", "list", "--connector", "hubspot", "--json", "--database", url]
    )
    assert json.loads(none.output) == []
