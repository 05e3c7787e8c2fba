"""The error types of :mod:`rnn_oracle` and the exit codes they stand for.

Every outcome of a check is one of four classes, the same in the API and on the command
line (:class:`ExitCode`):

* ``0`` RIGHT — checked, and every judged value is right;
* ``1`` WRONG — checked, and something is wrong (with a diagnosis);
* ``2`` USAGE — bad input: a spec, option, file or protocol the oracle cannot use
  (:class:`OracleError`);
* ``3`` NOT_JUDGED — nothing could be judged: every case was inconclusive, a backend that
  was asked for is missing or broken, the check does not apply (:class:`NotJudgedError`).
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What an exit status means: the same four classes for ``check``, ``verify`` and
    ``convert --verify``."""

    RIGHT = 0
    WRONG = 1
    USAGE = 2
    NOT_JUDGED = 3


class OracleError(ValueError):
    """Bad input to the oracle: a spec, case, array or option that cannot be used.

    The message names the offending parameter or position, what was expected and what came.
    """

    exit_code: ExitCode = ExitCode.USAGE


class NotJudgedError(OracleError):
    """Nothing could be judged: a backend that was asked for is missing or broken, no case
    could tell right from wrong, or the requested check does not apply. Exit code 3."""

    exit_code = ExitCode.NOT_JUDGED
