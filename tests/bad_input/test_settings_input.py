"""Bad settings in abmsync.toml, .env or ABMSYNC_* variables: one line naming source and key.

Never a traceback, never the value (it may be a secret), and nothing written:
the command that reads the settings stops before it opens the state database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.bad_input.helpers import (
    FAILED,
    Expect,
    assert_one_error,
    assert_unchanged,
    invoke,
    snapshot,
)

SECRET = "s3cr3t-value"


@dataclass(frozen=True)
class BadValue:
    key: str  # dotted: section.key or key
    toml: str  # the value as TOML writes it
    text: str  # the value as a variable holds it
    message: str


BAD_VALUES = [
    BadValue("salesforce.api_reserve_percent", '"abc"', "abc", "Input should be a valid number"),
    BadValue("salesforce.api_reserve_percent", "150", "150", "less than or equal to 100"),
    BadValue("salesforce.api_reserve_percent", "-1", "-1", "greater than or equal to 0"),
    BadValue("salesforce.max_calls_per_run", "1.5", "1.5", "valid integer"),
    BadValue("salesforce.max_calls_per_run", '"many"', "many", "valid integer"),
    BadValue("salesforce.max_calls_per_run", "-2", "-2", "greater than or equal to 0"),
    BadValue("hubspot.api_reserve_percent", '"ten"', "ten", "Input should be a valid number"),
    BadValue("hubspot.max_calls_per_run", '"lots"', "lots", "valid integer"),
    BadValue("salesforce.instance_url", '"not a url"', "not a url", "http:// or https:// URL"),
    BadValue(
        "salesforce.instance_url",
        '"ftp://files.example.com"',
        "ftp://files.example.com",
        "http:// or https:// URL",
    ),
    BadValue("hubspot.host", '"localhost:8080"', "localhost:8080", "http:// or https:// URL"),
    BadValue("hubspot.host", '"https://"', "https://", "http:// or https:// URL"),
    BadValue(
        "database_url", '"mysql://root@db/abm"', "mysql://root@db/abm", "not a state database URL"
    ),
    BadValue("database_url", '"abmsync.db"', "abmsync.db", "not a state database URL"),
    BadValue(
        "salesforce.verify",
        '"/nonexistent/ca.pem"',
        "/nonexistent/ca.pem",
        "no such CA bundle file",
    ),
    BadValue("salesforce.verify", '"maybe"', "maybe", "no such CA bundle file"),
]


def _toml(key: str, value: str) -> str:
    section, _, name = key.rpartition(".")
    return f"[{section}]\n{name} = {value}\n" if section else f"{key} = {value}\n"


def _variable(key: str) -> str:
    return "ABMSYNC_" + key.upper().replace(".", "__")


def _run_status(work: Path, expect: Expect, env: dict[str, str] | None = None) -> str:
    before = snapshot(work)
    result = invoke(["status"], env=env)
    line = assert_one_error(result, expect)
    assert_unchanged(before, work)
    assert SECRET not in result.output
    return line


@pytest.mark.parametrize("case", BAD_VALUES, ids=lambda c: f"{c.key}={c.text}")
def test_a_bad_value_in_abmsync_toml_names_the_file_and_key(case: BadValue, isolated: Path) -> None:
    (isolated / "abmsync.toml").write_text(_toml(case.key, case.toml))
    _run_status(isolated, Expect(FAILED, (f"abmsync.toml: {case.key}: ", case.message)))


@pytest.mark.parametrize("case", BAD_VALUES, ids=lambda c: f"{c.key}={c.text}")
def test_a_bad_value_in_dotenv_names_the_file_and_variable(case: BadValue, isolated: Path) -> None:
    (isolated / ".env").write_text(f"OTHER_TOOL_SETTING=1\n{_variable(case.key)}={case.text}\n")
    _run_status(isolated, Expect(FAILED, (f".env: {_variable(case.key)}: ", case.message)))


@pytest.mark.parametrize("case", BAD_VALUES, ids=lambda c: f"{c.key}={c.text}")
def test_a_bad_environment_variable_is_named(case: BadValue, isolated: Path) -> None:
    env = {_variable(case.key): case.text}
    expect = Expect(FAILED, (f"environment variable {_variable(case.key)}: ", case.message))
    _run_status(isolated, expect, env)


@pytest.mark.parametrize(
    ("where", "text", "needles"),
    [
        ("env", "{not json", ("environment variable ABMSYNC_SALESFORCE: not valid JSON",)),
        ("env", "[1, 2", ("environment variable ABMSYNC_SALESFORCE: not valid JSON",)),
        ("dotenv", "{not json", (".env: ABMSYNC_SALESFORCE: not valid JSON",)),
        (
            "env",
            '{"api_reserve_percent": "x"}',
            ("environment variable ABMSYNC_SALESFORCE (api_reserve_percent):", "valid number"),
        ),
        (
            "env",
            '{"client_secert": "x"}',
            ("environment variable ABMSYNC_SALESFORCE (client_secert): unknown setting",),
        ),
    ],
    ids=["env-unclosed", "env-list", "dotenv-unclosed", "env-bad-number", "env-unknown-key"],
)
def test_a_json_section_that_does_not_parse_is_named(
    where: str, text: str, needles: tuple[str, ...], isolated: Path
) -> None:
    env = {}
    if where == "env":
        env["ABMSYNC_SALESFORCE"] = text
    else:
        (isolated / ".env").write_text(f"ABMSYNC_SALESFORCE={text}\n")
    _run_status(isolated, Expect(FAILED, needles), env)


UNKNOWN_KEYS = [
    (
        "toml",
        'databse_url = "sqlite:///x.db"\n',
        "abmsync.toml: databse_url: unknown setting",
        "did you mean database_url?",
    ),
    (
        "toml",
        '[salesforce]\nclient_secert = "x"\n',
        "abmsync.toml: salesforce.client_secert",
        "did you mean salesforce.client_secret?",
    ),
    (
        "toml",
        '[hubspot]\naccess_tokn = "x"\n',
        "abmsync.toml: hubspot.access_tokn",
        "did you mean hubspot.access_token?",
    ),
    (
        "toml",
        '[salesfarce]\nclient_id = "x"\n',
        "abmsync.toml: salesfarce: unknown setting",
        "did you mean salesforce?",
    ),
    ("toml", 'colour = "blue"\n', "abmsync.toml: colour: unknown setting", ""),
    (
        "dotenv",
        "ABMSYNC_DATBASE_URL=sqlite:///x.db\n",
        ".env: ABMSYNC_DATBASE_URL: unknown",
        "did you mean ABMSYNC_DATABASE_URL?",
    ),
    (
        "dotenv",
        "ABMSYNC_SALESFORCE__CLIENT_SECERT=x\n",
        ".env: ABMSYNC_SALESFORCE__CLIENT_SECERT",
        "did you mean ABMSYNC_SALESFORCE__CLIENT_SECRET?",
    ),
    (
        "dotenv",
        "ABMSYNC_RULE=rules.yaml\n",
        ".env: ABMSYNC_RULE: unknown setting",
        "did you mean ABMSYNC_RULES?",
    ),
    (
        "env",
        "ABMSYNC_SALESFORCE__CLIENT_SECERT",
        "ABMSYNC_SALESFORCE__CLIENT_SECERT: unknown",
        "did you mean ABMSYNC_SALESFORCE__CLIENT_SECRET?",
    ),
    ("env", "ABMSYNC_HUBSPOT__TOKEN", "environment variable ABMSYNC_HUBSPOT__TOKEN: unknown", ""),
]


@pytest.mark.parametrize(
    ("where", "text", "named", "hint"),
    UNKNOWN_KEYS,
    ids=[f"{c[0]}-{c[2].split(': ')[1]}" for c in UNKNOWN_KEYS],
)
def test_an_unknown_key_is_an_error_with_a_suggestion(
    where: str, text: str, named: str, hint: str, isolated: Path
) -> None:
    env = {}
    if where == "toml":
        (isolated / "abmsync.toml").write_text(text)
    elif where == "dotenv":
        (isolated / ".env").write_text(text)
    else:
        env[text] = SECRET
    _run_status(isolated, Expect(FAILED, (named, hint)), env)


def test_variables_of_other_tools_and_other_abmsync_variables_are_left_alone(
    isolated: Path,
) -> None:
    (isolated / ".env").write_text("PATH_OF_SOMETHING=/x\nEDITOR=vi\n")
    env = {"ABMSYNC_TEST_POSTGRES_URL": "postgresql://x", "HOME_OF_OTHER": "y"}
    result = invoke(["status", "--database", f"sqlite:///{isolated / 's.db'}"], env=env)
    assert result.exit_code == 0, result.output


TOML_SYNTAX = [
    ('[salesforce\nclient_id = "x"\n', 1, 12),
    ("[salesforce]\nclient_id = \n", 2, 13),
    ('[salesforce]\nclient_id = "x\nclient_secret = "y"\n', 2, 15),
    ('rules = "a.yaml"\nrules = "b.yaml"\n', 2, 17),
    ("[hubspot]\nhost = 'https://x\n", 3, 1),
    ('data_dir = "a\\qb"\n', 1, 14),
    ("= 3\n", 1, 1),
    ("[salesforce]\n[salesforce]\n", 2, 13),
]


@pytest.mark.parametrize(
    ("text", "line", "column"),
    TOML_SYNTAX,
    ids=[f"toml-syntax-{i}" for i in range(len(TOML_SYNTAX))],
)
def test_a_toml_syntax_error_is_one_line_with_its_position(
    text: str, line: int, column: int, isolated: Path
) -> None:
    (isolated / "abmsync.toml").write_text(text)
    found = _run_status(isolated, Expect(FAILED, ("abmsync.toml:", "TOML syntax")))
    assert found.startswith("error: abmsync.toml:"), found
    position = found.removeprefix("error: abmsync.toml:").split(":")[:2]
    assert int(position[0]) == line, found
    assert int(position[1]) >= 1


WRONG_TYPES = [
    ("salesforce = 3\n", "abmsync.toml: salesforce: ", "valid dictionary"),
    ("[hubspot]\nhost = 5\n", "abmsync.toml: hubspot.host: ", "valid string"),
    ("rules = [1, 2]\n", "abmsync.toml: rules: ", "path"),
    ("[salesforce]\nverify = 2.5\n", "abmsync.toml: salesforce.verify: ", "true, false"),
    ("[salesforce]\nclient_secret = 12\n", "abmsync.toml: salesforce.client_secret: ", "string"),
]


@pytest.mark.parametrize(
    ("text", "named", "message"), WRONG_TYPES, ids=[c[1].split(": ")[1] for c in WRONG_TYPES]
)
def test_a_value_of_the_wrong_type_in_toml_is_named(
    text: str, named: str, message: str, isolated: Path
) -> None:
    (isolated / "abmsync.toml").write_text(text)
    _run_status(isolated, Expect(FAILED, (named, message)))


@pytest.mark.parametrize("name", ["abmsync.toml", ".env"])
def test_a_settings_file_that_is_not_utf8_or_a_directory_is_one_line(
    name: str, isolated: Path
) -> None:
    (isolated / name).write_bytes(b"\xff\xfe rules = 1\n")
    _run_status(isolated, Expect(FAILED, (f"{name}: not UTF-8 text",)))
    (isolated / name).unlink()
    (isolated / name).mkdir()
    _run_status(isolated, Expect(FAILED, (f"{name}: is a directory",)))


@pytest.mark.parametrize("word", ["true", "false", "1", "0", "yes", "no", "TRUE", "No"])
def test_verify_accepts_the_usual_booleans(
    word: str, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from abmsync.settings import Settings

    monkeypatch.setenv("ABMSYNC_SALESFORCE__VERIFY", word)
    assert Settings().salesforce.verify is (word.lower() in ("true", "1", "yes"))


def test_verify_keeps_the_path_of_an_existing_ca_file(isolated: Path) -> None:
    from abmsync.settings import Settings

    ca = isolated / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    (isolated / "abmsync.toml").write_text(f'[salesforce]\nverify = "{ca}"\n')
    assert Settings().salesforce.verify == str(ca)


SALESFORCE = {
    "instance_url": "https://example.my.salesforce.com",
    "client_id": "3MVG9",
    "client_secret": SECRET,
}


def _credential_cases() -> list[tuple[str, dict[str, str], str]]:
    cases = []
    for key in SALESFORCE:
        for how in ("missing", "empty"):
            values = {k: v for k, v in SALESFORCE.items() if k != key}
            if how == "empty":
                values[key] = ""
            env = {f"ABMSYNC_SALESFORCE__{k.upper()}": v for k, v in values.items()}
            cases.append((f"salesforce-{key}-{how}", env, f"salesforce: {key} is missing or empty"))
    cases.append(
        (
            "hubspot-token-missing",
            {"ABMSYNC_HUBSPOT__HOST": "https://api.hubapi.com"},
            "hubspot: access_token is missing or empty",
        )
    )
    cases.append(
        (
            "hubspot-token-empty",
            {"ABMSYNC_HUBSPOT__ACCESS_TOKEN": ""},
            "hubspot: access_token is missing or empty",
        )
    )
    cases.append(
        (
            "salesforce-only-budget",
            {"ABMSYNC_SALESFORCE__API_RESERVE_PERCENT": "5"},
            "salesforce: instance_url is missing or empty",
        )
    )
    return cases


CREDENTIALS = _credential_cases()


@pytest.mark.parametrize(
    ("env", "message"), [c[1:] for c in CREDENTIALS], ids=[c[0] for c in CREDENTIALS]
)
def test_a_configured_system_missing_a_credential_is_an_error_naming_it(
    env: dict[str, str], message: str, isolated: Path
) -> None:
    # The other system is fully configured: an empty Salesforce secret must not
    # reduce the check to HubSpot alone and exit 0 (nor the other way round).
    if message.startswith("hubspot"):
        other = {f"ABMSYNC_SALESFORCE__{k.upper()}": v for k, v in SALESFORCE.items()}
    else:
        other = {"ABMSYNC_HUBSPOT__ACCESS_TOKEN": "pat-token"}
    full = {**other, **env}
    before = snapshot(isolated)
    result = invoke(["crm", "check"], env=full)
    assert_one_error(result, Expect(FAILED, (message,)))
    assert SECRET not in result.output
    assert_unchanged(before, isolated)


COMMANDS_READING_SETTINGS = [
    ["status"],
    ["sla"],
    ["deadletters", "list"],
    ["deadletters", "retry"],
    ["sync", "--dry-run"],
    ["crm", "check"],
    ["crm", "install-fields", "--rules", "rules.yaml"],
    ["rules", "diff", "rules.yaml", "rules.yaml"],
]


@pytest.mark.parametrize("command", COMMANDS_READING_SETTINGS, ids=" ".join)
def test_every_command_that_reads_settings_reports_them_in_one_line(
    command: list[str], isolated: Path
) -> None:
    from tests.bad_input.conftest import EXAMPLE_RULES

    (isolated / "rules.yaml").write_text(EXAMPLE_RULES.read_text())
    (isolated / "abmsync.toml").write_text('[salesforce]\napi_reserve_percent = "abc"\n')
    before = snapshot(isolated)
    result = invoke(command)
    expect = Expect(FAILED, ("abmsync.toml: salesforce.api_reserve_percent: ", "valid number"))
    assert_one_error(result, expect)
    assert_unchanged(before, isolated)
