"""The demo's settings file: read back by settings as written, never over a file of the user's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from abmsync.demo_settings import next_commands, write_demo_settings
from abmsync.settings import TOML_FILE, Settings

DEMO = Path("abmsync-demo")  # the demo's default state directory, inside the working directory


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no ``ABMSYNC_*`` variables set."""
    for name in list(os.environ):
        if name.startswith("ABMSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_settings_read_back_what_the_demo_wrote(here: Path) -> None:
    odd = Path('dir "quoted"') / "ünï\\côde" / "rules.yaml"
    assert (
        write_demo_settings(
            DEMO, "sqlite:///abmsync-demo/abmsync.db", odd, Path("examples/mappings")
        )
        is None
    )
    settings = Settings()
    assert settings.database_url.get_secret_value() == "sqlite:///abmsync-demo/abmsync.db"
    assert (settings.rules, settings.mappings) == (odd, Path("examples/mappings"))


def test_a_settings_file_of_the_users_is_left_alone(here: Path) -> None:
    own = 'database_url = "postgresql+psycopg://crm@db/abmsync"\n'
    (here / TOML_FILE).write_text(own, encoding="utf-8")
    why = write_demo_settings(DEMO, "sqlite:///demo.db", Path("r.yaml"), Path("m"))
    assert why == "abmsync.toml is not the demo's: left alone"
    assert (here / TOML_FILE).read_text(encoding="utf-8") == own


def test_the_demos_own_file_is_rewritten_by_the_next_demo(here: Path) -> None:
    assert write_demo_settings(DEMO, "sqlite:///first.db", Path("r.yaml"), Path("m")) is None
    assert write_demo_settings(DEMO, "sqlite:///second.db", Path("r.yaml"), Path("m")) is None
    assert Settings().database_url.get_secret_value() == "sqlite:///second.db"


def test_environment_variables_still_win_over_the_demos_file(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert write_demo_settings(DEMO, "sqlite:///demo.db", Path("r.yaml"), Path("m")) is None
    monkeypatch.setenv("ABMSYNC_DATABASE_URL", "sqlite:///mine.db")
    assert Settings().database_url.get_secret_value() == "sqlite:///mine.db"
    assert Settings().rules == Path("r.yaml")


def test_hints_spell_out_options_only_when_settings_do_not_point_at_the_demo() -> None:
    short = next_commands("sqlite:///d.db", Path("r.yaml"), Path("m"), not_written=None)
    full = next_commands("sqlite:///d.db", Path("r.yaml"), Path("m"), not_written="why")
    assert "  abmsync report   (funnel and ABM report as HTML)" in short
    assert not any("--database" in line for line in short)
    assert any(
        line.startswith("  abmsync report --database sqlite:///d.db --rules r.yaml --mappings m ")
        for line in full
    )


def test_a_demo_kept_outside_the_working_directory_leaves_it_alone(
    here: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    why = write_demo_settings(elsewhere, "sqlite:///x.db", Path("r.yaml"), Path("m"))
    assert why == f"the demo's state is outside {here.resolve()}"
    assert not (here / TOML_FILE).exists()
