"""argparse value types shared by the ``rnn-oracle`` subcommands."""

from __future__ import annotations

import argparse


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
