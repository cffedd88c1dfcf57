"""``describe`` and ``check``: what a connector says about the tenant before touching data."""

from __future__ import annotations

import certifi
import pytest

from abmsync.connectors.base import Connector
from abmsync.errors import AbmsyncError
from tests.connectors.conformance.harness import (
    REFERENCE_FIELDS,
    TEXT_LENGTH,
    Harness,
)

WRONG_SECRET = "wrong-secret-that-must-never-leak-4711"


def test_connector_satisfies_the_protocol(harness: Harness) -> None:
    assert isinstance(harness.connector(), Connector)


def test_describe_types_the_person_fields_and_their_writability(harness: Harness) -> None:
    meta = harness.connector().describe(harness.person_object)
    described = {
        name: (meta.fields[name].type, meta.fields[name].writable)
        for name in harness.expected_fields
        if name in meta.fields
    }
    expected = {name: (e.type, e.writable) for name, e in harness.expected_fields.items()}
    assert described == expected
    assert meta.fields[harness.email_field].writable
    assert not meta.fields[harness.readonly_field].writable


def test_describe_gives_text_fields_their_maximum_length(harness: Harness) -> None:
    harness.require(TEXT_LENGTH)
    meta = harness.connector().describe(harness.person_object)
    assert meta.fields[harness.text_field].length == harness.text_length


def test_describe_names_the_object_a_reference_points_to(harness: Harness) -> None:
    harness.require(REFERENCE_FIELDS)
    meta = harness.connector().describe(harness.person_object)
    expected = {n: e.reference_to for n, e in harness.expected_fields.items() if e.reference_to}
    assert expected, f"{harness.name} harness names no reference field with its target"
    assert {n: meta.fields[n].reference_to for n in expected} == expected


def test_describe_of_an_unknown_object_is_an_abmsync_error_of_one_line(harness: Harness) -> None:
    with pytest.raises(AbmsyncError) as caught:
        harness.connector().describe("NoSuchThing")
    assert "\n" not in str(caught.value)


def test_describe_of_an_unknown_object_names_it(harness: Harness) -> None:
    with pytest.raises(AbmsyncError) as caught:
        harness.connector().describe("NoSuchThing")
    assert "nosuchthing" in str(caught.value).lower()


def test_check_passes_on_a_healthy_tenant_once_abmsync_fields_exist(harness: Harness) -> None:
    before = harness.connector().check()
    if harness.check_fields:
        assert not before.ok
        assert any("missing" in item.detail for item in before.items if not item.ok)
    else:
        assert before.ok, before.items
    for spec in harness.check_fields:
        harness.connector().ensure_fields(spec)
    after = harness.connector().check()
    assert after.ok, after.items


def test_a_wrong_secret_fails_check_and_calls_without_showing_it(harness: Harness) -> None:
    connector = harness.connector(secret=WRONG_SECRET)
    report = connector.check()
    assert not report.ok
    details = " ".join(item.detail for item in report.items)
    assert WRONG_SECRET not in details and harness.secret not in details
    with pytest.raises(AbmsyncError) as caught:
        connector.describe(harness.person_object)
    message = str(caught.value)
    assert "\n" not in message
    assert WRONG_SECRET not in message and harness.secret not in message


def test_a_connector_trusting_a_ca_bundle_builds_without_warnings(harness: Harness) -> None:
    assert harness.connector() is not None  # warnings are errors: a deprecated verify fails


def test_a_configured_ca_bundle_wins_over_the_environment(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, certifi.where())
    assert harness.connector().describe(harness.person_object).fields
