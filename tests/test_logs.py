"""abmsync's log configuration: JSON lines, levels, run context and masked secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from abmsync.errors import AbmsyncError
from abmsync.logs import configure_logging, log_context, redact
from abmsync.sync.store import Store

log = logging.getLogger("abmsync.tests")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    configure_logging()  # back to stderr at the default level


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_time_level_logger_message_and_the_extra_fields(
    stream: io.StringIO,
) -> None:
    configure_logging("info", "json", stream=stream)
    log.info("read %s: %d records", "salesforce/Lead", 4, extra={"records": 4, "step": "read"})
    (line,) = lines(stream)
    assert line["level"] == "info"
    assert line["logger"] == "abmsync.tests"
    assert line["message"] == "read salesforce/Lead: 4 records"
    assert line["records"] == 4 and line["step"] == "read"
    assert line["time"].endswith("Z")


def test_fields_of_the_log_context_reach_every_record_inside_it(stream: io.StringIO) -> None:
    configure_logging("info", "json", stream=stream)
    with log_context(run_id=12):
        log.info("inside")
        log.info("explicit wins", extra={"run_id": 13})
    log.info("outside")
    inside, explicit, outside = lines(stream)
    assert inside["run_id"] == 12
    assert explicit["run_id"] == 13
    assert "run_id" not in outside


def test_records_below_the_level_are_dropped(stream: io.StringIO) -> None:
    configure_logging("warning", "json", stream=stream)
    log.info("quiet")
    log.debug("quieter")
    log.warning("loud")
    assert [line["message"] for line in lines(stream)] == ["loud"]


def test_configuring_again_replaces_the_handler_rather_than_adding_one(
    stream: io.StringIO,
) -> None:
    configure_logging("info", "json", stream=stream)
    configure_logging("info", "json", stream=stream)
    log.info("once")
    assert len(lines(stream)) == 1


def test_text_lines_put_the_fields_after_the_message(stream: io.StringIO) -> None:
    configure_logging("info", "text", stream=stream)
    log.info("wrote", extra={"written": 3, "system": "salesforce", "errors": {"X": 1}})
    text = stream.getvalue()
    assert text.count("\n") == 1
    assert "INFO" in text and "abmsync.tests: wrote" in text
    assert 'written=3 system=salesforce errors={"X": 1}' in text


def test_a_registered_secret_is_masked_in_messages_fields_and_tracebacks(
    stream: io.StringIO,
) -> None:
    secret = "s3cr3t-value-for-the-log-test"
    redact(secret)
    configure_logging("debug", "json", stream=stream)
    log.info("token %s", secret, extra={"form": {"client_secret": secret}, "list": [secret]})
    try:
        raise AbmsyncError(f"login failed with {secret}")
    except AbmsyncError:
        log.exception("failed")
    text = stream.getvalue()
    assert secret not in text
    first, second = lines(stream)
    assert first["message"] == "token ***"
    assert first["form"] == {"client_secret": "***"} and first["list"] == ["***"]
    assert "login failed with ***" in second["exception"]


def test_the_state_database_password_is_masked_once_the_store_has_seen_its_url(
    stream: io.StringIO,
) -> None:
    password = "pw/with@odd chars-4417"
    url = f"postgresql://abmsync:{quote(password, safe='')}@127.0.0.1:1/abmsync"
    with pytest.raises(AbmsyncError):
        Store.open(url)  # nothing listens on port 1
    configure_logging("info", "json", stream=stream)
    log.info("opening %s (password %s)", url, password)
    text = stream.getvalue()
    assert password not in text
    assert quote(password, safe="") not in text
    assert "postgresql://abmsync:***@127.0.0.1:1/abmsync" in lines(stream)[0]["message"]
