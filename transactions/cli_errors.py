"""How every command of the project fails: one line on stderr, a clear exit code, no traceback.

- :class:`ArgumentParser`: argparse, but a bad option is one line (``prog: error: ...``, the
  value quoted as a bounded, escaped excerpt) and exit code 2, instead of the usage block;
- :func:`finite_number`: an option type that refuses NaN and infinities and checks a range
  (argparse's ``float`` takes ``nan`` and ``inf``);
- :func:`credentials_problem`: what to say when ``google.auth`` finds no usable credentials;
- :func:`run_against_google`: a command with what Google's libraries raise turned into one line;
- :func:`pubsub_existence_problem`: whether a topic or subscription is there, asked once the way
  every command asks it.

Google's libraries are never imported here, not even inside a function: this package (contract
v1) imports no Google client. Their exceptions are recognised by their class hierarchy instead
(:func:`_is_google_error`: the class's module and name, as the libraries define them).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from transactions import resource_names
from transactions.excerpt import excerpt, message_line

_AUTH_ERRORS = ("google.auth.exceptions.GoogleAuthError",)
_CALL_ERRORS = ("google.api_core.exceptions.GoogleAPICallError", "google.api_core.exceptions.RetryError")
_NOT_FOUND = ("google.api_core.exceptions.NotFound",)
_PERMISSION_DENIED = ("google.api_core.exceptions.PermissionDenied",)

ADC_HINT = (
    "provide Application Default Credentials: run 'gcloud auth application-default login', or set "
    "GOOGLE_APPLICATION_CREDENTIALS to a key file; on Google Cloud (the Dataflow launcher, workers, "
    "Cloud Run) the attached service account provides them; for the local emulators set "
    "PUBSUB_EMULATOR_HOST and BIGTABLE_EMULATOR_HOST"
)


def credentials_problem(error: BaseException) -> str:
    """``no usable Google Cloud credentials (<why>); <how to provide them>``, on one line."""
    return f"no usable Google Cloud credentials ({message_line(error, limit=200)}); {ADC_HINT}"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``prog: error: <message> (see --help)``, exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message_line(message)} (see --help)", file=sys.stderr)
        sys.exit(2)


def finite_number(low: float, high: float, kind: type = float) -> Callable[[str], float]:
    """An argparse ``type``: a finite number from ``low`` to ``high`` (an int if ``kind`` is int)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{excerpt(text)} is not a {parse.__name__}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{excerpt(text)} is not a {parse.__name__} from {low:g} to {high:g}")
        return value

    parse.__name__ = "finite number" if kind is float else "whole number"
    return parse


def check_names(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    named: tuple[tuple[str, str], ...],
    may_be_empty: tuple[str, ...] = (),
) -> None:
    """Each ``(option, kind)`` of ``named`` fits its :mod:`transactions.resource_names` form, or the
    parser stops with one line naming the option (an option left unset is not checked, nor an
    empty one that ``may_be_empty`` names)."""
    for option, kind in named:
        value = getattr(args, option)
        if value is None or (value == "" and option in may_be_empty):
            continue
        if not resource_names.is_valid(kind, value):
            flag = "--" + option.replace("_", "-")
            parser.error(f"{flag}: {excerpt(value)} is not {resource_names.DESCRIPTIONS[kind]}")


def _is_google_error(error: BaseException, classes: tuple[str, ...]) -> bool:
    """Whether ``error`` is an instance of one of ``classes`` (``module.Class``) or of a subclass:
    ``isinstance`` by the class hierarchy's names, so that Google's exceptions are recognised
    without importing Google's libraries."""
    return any(f"{kind.__module__}.{kind.__qualname__}" in classes for kind in type(error).__mro__)


def run_against_google(command: Callable[[], int], service: str, failure_code: int) -> int:
    """``command()``, with what Google's libraries raise turned into one line and an exit code:
    missing credentials exit 2 (:func:`credentials_problem`); a call that failed, after the
    library's retries, ``failure_code``. Anything else is raised as it is."""
    try:
        return command()
    except Exception as error:
        if _is_google_error(error, _AUTH_ERRORS):
            print(f"error: {credentials_problem(error)}", file=sys.stderr)
            return 2
        if _is_google_error(error, _CALL_ERRORS):
            print(f"error: {service} failed: {type(error).__name__}: {message_line(error)}", file=sys.stderr)
            return failure_code
        raise


def pubsub_existence_problem(what: str, get: Callable[[], object], if_missing: str = "") -> str | None:
    """None if ``get()`` (a ``get_topic`` or ``get_subscription`` call) finds ``what``, else one
    line: ``<what> does not exist<if_missing>``, or ``cannot reach Pub/Sub at <host>: <error>``.

    PermissionDenied counts as there: an account allowed to publish or consume may not read a
    resource's metadata, and the publish or the pull will tell.
    """
    try:
        get()
    except Exception as error:
        if _is_google_error(error, _NOT_FOUND):
            return f"{what} does not exist{if_missing}"
        if _is_google_error(error, _PERMISSION_DENIED):
            return None
        if _is_google_error(error, _CALL_ERRORS):
            where = os.environ.get("PUBSUB_EMULATOR_HOST", "pubsub.googleapis.com")
            return f"cannot reach Pub/Sub at {where}: {type(error).__name__}: {message_line(error)}"
        raise
    return None
