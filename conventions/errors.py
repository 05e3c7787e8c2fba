"""The one exception type of :mod:`conventions`."""

from __future__ import annotations

__all__ = ["ConventionError"]


class ConventionError(ValueError):
    """A layout, shape or operator request that cannot be honoured.

    Every message names the argument at fault, what was expected and what came.
    It subclasses :class:`ValueError`, so ``except ValueError`` catches it too.
    """
