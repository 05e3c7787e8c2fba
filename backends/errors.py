"""The one error type of :mod:`backends`."""

from __future__ import annotations


class BackendError(RuntimeError):
    """A backend is unknown, not installed, or lacks a requested capability."""
