"""What the ``rnn-oracle`` subcommands share: argparse value types, the parser class whose
errors are one line, and how a failure is reported (one line on stderr; with ``--json``,
also a JSON error object on stdout) with its exit code (:class:`~rnn_oracle.errors.ExitCode`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import NoReturn

from rnn_oracle.errors import ExitCode


def positive(text: str) -> int:
    """An integer ≥ 1."""
    return _integer_at_least(text, 1)


def non_negative(text: str) -> int:
    """An integer ≥ 0."""
    return _integer_at_least(text, 0)


def _integer_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer ≥ {minimum}, got {text!r}"
        ) from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ {minimum}, got {value}")
    return value


def tolerance(text: str) -> float:
    """A positive finite number (an absolute or relative tolerance)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive finite number such as 1e-8, got {text!r}"
        )
    return value


class UsageError(Exception):
    """An argparse error, carried to ``main`` instead of printing the usage and exiting."""


class Parser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose errors are one line, raised as
    :class:`UsageError` (``main`` prints it and exits 2, or writes the JSON error)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


def fail(message: str, code: ExitCode, as_json: bool = False) -> int:
    """Report a failure: ``message`` as one line on stderr and, with ``as_json``, the
    object ``{"error": message, "exit_code": code}`` on stdout. Returns ``code``."""
    line = " ".join(message.split())
    print(line, file=sys.stderr)
    if as_json:
        print(json.dumps({"error": line, "exit_code": int(code)}, ensure_ascii=False))
    return int(code)
