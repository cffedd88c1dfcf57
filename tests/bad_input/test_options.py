"""Numeric options out of range are usage errors (exit 2) naming the option, for every command."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from abmsync.cli import main
from tests.bad_input.conftest import EXAMPLE_RULES
from tests.bad_input.helpers import (
    USAGE,
    Expect,
    assert_one_error,
    assert_unchanged,
    invoke,
    snapshot,
)

R = str(EXAMPLE_RULES)
DIFF = ["rules", "diff", R, R, "--data", "data"]
SCORE = ["score", "--rules", R, "--data", "data"]
GENERATE = ["sandbox", "generate", "--out", "generated"]
SERVE = ["sandbox", "serve", "--seconds", "0.01"]
DEMO = ["demo", "--dir", "demo"]

BAD_OPTIONS = [
    (DIFF, "--weeks", "-1"), (DIFF, "--weeks", "0"), (DIFF, "--weeks", "521"),
    (DIFF, "--weeks", "eight"), (DIFF, "--sample", "-1"), (DIFF, "--sample", "1.5"),
    (SCORE, "--top", "-5"), (SCORE, "--top", "ten"),
    (["status"], "--runs", "-1"), (["status"], "--runs", "0"), (["status"], "--runs", "x"),
    (GENERATE, "--people", "0"), (GENERATE, "--people", "-3"), (GENERATE, "--people", "many"),
    (GENERATE, "--people", "10000001"), (GENERATE, "--seed", "-1"), (GENERATE, "--months", "0"),
    (GENERATE, "--months", "241"), (GENERATE, "--touchpoints-per-person", "-1"),
    (GENERATE, "--touchpoints-per-person", "1001"), (GENERATE, "--touchpoints-per-person", "nan"),
    (SERVE, "--salesforce-port", "-1"), (SERVE, "--salesforce-port", "0"),
    (SERVE, "--salesforce-port", "70000"), (SERVE, "--map-port", "-1"),
    (SERVE, "--hubspot-port", "65536"), (SERVE, "--seconds", "0"), (SERVE, "--seconds", "-1"),
    (SERVE, "--seconds", "inf"),
    (DEMO, "--people", "0"), (DEMO, "--people", "-1"), (DEMO, "--people", "1000001"),
    (DEMO, "--seed", "-1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("command", "option", "value"),
    BAD_OPTIONS,
    ids=[f"{' '.join(c[0][:2])} {c[1]}={c[2]}" for c in BAD_OPTIONS],
)
def test_an_out_of_range_number_is_a_usage_error_naming_the_option(
    command: list[str], option: str, value: str, isolated: Path
) -> None:
    before = snapshot(isolated)
    result = invoke([*command, option, value])
    assert_one_error(result, Expect(USAGE, (f"'{option}'", value)))
    assert_unchanged(before, isolated)


BAD_FAULTS = [
    ("rate_limit=2", "rate_limit: rate '2' must be within 0..1"),
    ("server_error=-0.1", "server_error: rate '-0.1' must be within 0..1"),
    ("partial_failure=1.01", "must be within 0..1"),
    ("slow=abc", "slow: 'abc' is not a number"),
    ("drop=", "drop: '' is not a number"),
    ("token_expiry=inf", "not a finite number"),
    ("seed=1.5", "seed: '1.5' is not a whole number"),
    ("seed=-3", "is not a whole number of 0 or more"),
    ("retry_after=-1", "must not be negative"),
    ("slow_seconds=-0.5", "must not be negative"),
    ("bogus=1", "unknown fault 'bogus'"),
    ("rate_limit", "rate_limit: '' is not a number"),
]


@pytest.mark.parametrize(("faults", "message"), BAD_FAULTS, ids=[f[0] for f in BAD_FAULTS])
def test_bad_faults_are_a_usage_error(faults: str, message: str, isolated: Path) -> None:
    result = invoke([*SERVE, "--faults", faults])
    assert_one_error(result, Expect(USAGE, ("--faults", message)))


def test_a_port_in_use_is_one_line(isolated: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke([*SERVE, "--map-port", str(port)])
    assert_one_error(result, Expect(1, (f"--map-port {port}: cannot listen there",)))


def _numeric_options() -> list[tuple[str, click.Option]]:
    found = []

    def walk(command: click.Command, path: str) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}".strip())
            return
        numeric = click.types.IntParamType | click.types.FloatParamType
        for param in command.params:
            if isinstance(param, click.Option) and isinstance(param.type, numeric):
                found.append((path, param))

    walk(main, "")
    return found


def test_every_numeric_option_of_every_command_has_a_range() -> None:
    options = _numeric_options()
    assert len(options) >= 12
    unbounded = [
        f"{path} {param.opts[0]}"
        for path, param in options
        if not isinstance(param.type, click.IntRange | click.FloatRange)
    ]
    assert not unbounded, f"numeric options without a range: {unbounded}"
