"""How every command of the project fails: one line on stderr, a clear exit code, no traceback.

- :class:`ArgumentParser`: argparse, but a bad option is one line (``prog: error: ...``, the
  value quoted as a bounded, escaped excerpt) and exit code 2, instead of the usage block;
- :func:`finite_number`: an option type that refuses NaN and infinities and checks a range
  (argparse's ``float`` takes ``nan`` and ``inf``);
- :func:`credentials_problem`: what to say when ``google.auth`` finds no usable credentials;
- :func:`run_against_google`: a command with what Google's libraries raise turned into one line;
- :func:`pubsub_existence_problem`: whether a topic or subscription is there, asked once the way
  every command asks it.

Google's libraries are imported inside the functions that need them, never at the top: this
package (contract v1) must import without them.
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


def run_against_google(command: Callable[[], int], service: str, failure_code: int) -> int:
    """``command()``, with what Google's libraries raise turned into one line and an exit code:
    missing credentials exit 2 (:func:`credentials_problem`); a call that failed, after the
    library's retries, ``failure_code``. (The libraries are imported here, not at the top: this
    package must import without them.)"""
    from google.api_core import exceptions as api_exceptions
    from google.auth.exceptions import GoogleAuthError

    try:
        return command()
    except GoogleAuthError as error:
        print(f"error: {credentials_problem(error)}", file=sys.stderr)
        return 2
    except (api_exceptions.GoogleAPICallError, api_exceptions.RetryError) as error:
        print(f"error: {service} failed: {type(error).__name__}: {message_line(error)}", file=sys.stderr)
        return failure_code


def pubsub_existence_problem(what: str, get: Callable[[], object], if_missing: str = "") -> str | None:
    """None if ``get()`` (a ``get_topic`` or ``get_subscription`` call) finds ``what``, else one
    line: ``<what> does not exist<if_missing>``, or ``cannot reach Pub/Sub at <host>: <error>``.

    PermissionDenied counts as there: an account allowed to publish or consume may not read a
    resource's metadata, and the publish or the pull will tell.
    """
    from google.api_core import exceptions as api_exceptions

    try:
        get()
    except api_exceptions.NotFound:
        return f"{what} does not exist{if_missing}"
    except api_exceptions.PermissionDenied:
        return None
    except (api_exceptions.GoogleAPICallError, api_exceptions.RetryError) as error:
        where = os.environ.get("PUBSUB_EMULATOR_HOST", "pubsub.googleapis.com")
        return f"cannot reach Pub/Sub at {where}: {type(error).__name__}: {message_line(error)}"
    return None
