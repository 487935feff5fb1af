"""How every command fails: one-line argparse errors, checked numbers and names, and Google's
exceptions turned into one line and an exit code.

The module never imports Google's libraries (contract v1 imports no Google client); it knows their
exceptions by their class hierarchy. The tests raise the libraries' real exceptions, so a class
that a new library version renames or moves fails here, not in production.
"""

from __future__ import annotations

import argparse

import pytest
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions

from tests.output import one_clean_line
from transactions import cli_errors


def parser_with(*options: str) -> cli_errors.ArgumentParser:
    parser = cli_errors.ArgumentParser(prog="tool")
    for option in options:
        parser.add_argument(option)
    return parser


def test_a_bad_option_is_one_line_and_exit_2(capsys):
    parser = parser_with("--name")
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--nmae", "x"])
    assert stop.value.code == 2
    assert one_clean_line(capsys.readouterr().err, 200) == "tool: error: unrecognized arguments: --nmae x (see --help)"


@pytest.mark.parametrize(
    ("low", "high", "kind", "text", "value"),
    [(0, 10, float, "2.5", 2.5), (0, 10, float, "1e1", 10.0), (1, 5, int, "3", 3), (-1, 1, float, "-1", -1.0)],
)
def test_finite_number_takes_a_number_in_range(low, high, kind, text, value):
    parsed = cli_errors.finite_number(low, high, kind)(text)
    assert parsed == value and type(parsed) is kind


@pytest.mark.parametrize(
    ("low", "high", "kind", "text", "says"),
    [
        (0, 10, float, "nan", "'nan' is not a finite number from 0 to 10"),
        (0, 10, float, "inf", "'inf' is not a finite number from 0 to 10"),
        (0, 10, float, "10.01", "'10.01' is not a finite number from 0 to 10"),
        (0, 1e6, float, "abc", "'abc' is not a finite number"),
        (1, 1000, int, "2.5", "'2.5' is not a whole number"),
        (1, 1000, int, "0", "'0' is not a whole number from 1 to 1000"),
    ],
)
def test_finite_number_refuses_what_argparse_float_takes(low, high, kind, text, says):
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        cli_errors.finite_number(low, high, kind)(text)
    assert str(caught.value) == says


def test_check_names_names_the_option_and_the_form(capsys):
    parser = parser_with("--project", "--rollups-table", "--topic")
    named = (("project", "project"), ("rollups_table", "bigtable_table"), ("topic", "topic"))
    cli_errors.check_names(parser, parser.parse_args(["--project", "my-project"]), named)  # unset: not checked
    cli_errors.check_names(parser, parser.parse_args(["--rollups-table", ""]), named, may_be_empty=("rollups_table",))
    with pytest.raises(SystemExit):
        cli_errors.check_names(parser, parser.parse_args(["--rollups-table", ""]), named)
    assert one_clean_line(capsys.readouterr().err, 300) == (
        "tool: error: --rollups-table: '' is not a table id: 1-50 characters of a-z, A-Z, 0-9, '_', '-' and '.'"
        " (see --help)"
    )
    with pytest.raises(SystemExit):
        cli_errors.check_names(parser, parser.parse_args(["--topic", "projects/p/topics/\x1b"]), named)
    assert one_clean_line(capsys.readouterr().err, 300) == (
        "tool: error: --topic: 'projects/p/topics/\\x1b' is not projects/<project>/topics/<topic> (see --help)"
    )


def _raising(error: BaseException):
    def command() -> int:
        raise error

    return command


@pytest.mark.parametrize(
    "error",
    [
        auth_exceptions.DefaultCredentialsError("File /x.json was not found."),
        auth_exceptions.RefreshError("token expired"),
    ],
)
def test_missing_credentials_exit_2_and_say_how_to_provide_them(error, capsys):
    assert cli_errors.run_against_google(_raising(error), "Bigtable", 1) == 2
    line = one_clean_line(capsys.readouterr().err, 1000)
    assert line == f"error: no usable Google Cloud credentials ({error}); {cli_errors.ADC_HINT}"


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (api_exceptions.ServiceUnavailable("down\nfor now"), "error: Pub/Sub failed: ServiceUnavailable: down for now"),
        (api_exceptions.NotFound("no table"), "error: Pub/Sub failed: NotFound: no table"),
        (api_exceptions.RetryError("deadline", cause=None), "error: Pub/Sub failed: RetryError: deadline"),
    ],
)
def test_a_failed_call_exits_with_the_commands_failure_code(error, says, capsys):
    assert cli_errors.run_against_google(_raising(error), "Pub/Sub", 3) == 3
    assert one_clean_line(capsys.readouterr().err, 300) == says


def test_anything_else_is_raised_as_it_is(capsys):
    for error in (ValueError("ours"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            cli_errors.run_against_google(_raising(error), "Pub/Sub", 3)
    assert cli_errors.run_against_google(lambda: 7, "Pub/Sub", 3) == 7
    assert capsys.readouterr().err == ""


def test_a_class_of_the_same_name_elsewhere_is_not_googles():
    class GoogleAPICallError(Exception):
        pass

    with pytest.raises(GoogleAPICallError):
        cli_errors.run_against_google(_raising(GoogleAPICallError("x")), "Pub/Sub", 3)


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (None, None),
        (api_exceptions.NotFound("gone"), "topic projects/p/topics/t does not exist (create it)"),
        (api_exceptions.PermissionDenied("no get"), None),
        (
            api_exceptions.ServiceUnavailable("refused"),
            "cannot reach Pub/Sub at 127.0.0.1:1: ServiceUnavailable: refused",
        ),
        (
            api_exceptions.RetryError("gave up", cause=None),
            "cannot reach Pub/Sub at 127.0.0.1:1: RetryError: gave up",
        ),
    ],
)
def test_pubsub_existence_problem(error, problem, monkeypatch):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:1")

    def get() -> None:
        if error is not None:
            raise error

    assert cli_errors.pubsub_existence_problem("topic projects/p/topics/t", get, " (create it)") == problem


def test_pubsub_existence_problem_raises_what_is_not_googles():
    with pytest.raises(ZeroDivisionError):
        cli_errors.pubsub_existence_problem("topic t", lambda: 1 / 0)


def test_credentials_problem_is_one_bounded_line():
    line = cli_errors.credentials_problem(auth_exceptions.GoogleAuthError("a\n" + "b" * 1000))
    assert line.startswith("no usable Google Cloud credentials (a b")
    assert line.endswith(f"); {cli_errors.ADC_HINT}")
    assert len(line) < 200 + len(cli_errors.ADC_HINT) + 60
