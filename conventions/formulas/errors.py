"""The error type of :mod:`conventions.formulas`: a message, and where in the input it points."""

from __future__ import annotations

from ..errors import ConventionError

__all__ = ["FormulaError"]


class FormulaError(ConventionError):
    """A formula that cannot be parsed, typed, converted or evaluated.

    When the input text is known the message ends with the text and a caret line under
    the offending position, so the CLI and tracebacks show *where* without more work.

    Attributes:
        reason: the message without the caret block.
        source: the input text, if known.
        position: the 0-based character offset in ``source``, if known.
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str | None = None,
        position: int | None = None,
        length: int = 1,
    ) -> None:
        self.reason = reason
        self.source = source
        self.position = position
        super().__init__(_with_caret(reason, source, position, length))


def _with_caret(reason: str, source: str | None, position: int | None, length: int) -> str:
    if source is None or position is None:
        return reason
    position = max(0, min(position, len(source)))
    # Show the one line of the source that holds the position, with a caret under it.
    start = source.rfind("\n", 0, position) + 1
    end = source.find("\n", position)
    line = source[start : end if end >= 0 else len(source)]
    column = position - start
    caret = " " * column + "^" * max(1, min(length, len(line) - column))
    return f"{reason} (at column {column + 1})\n  {line}\n  {caret}"
