"""docs/architectures.md: every diagram is current, and every formula is executed.

Each ``$$`` display on the page is followed, before the next display, by a ``python``
block that evaluates it on a random case and compares it with complex step; the blocks
run in order in one namespace (as ``tests/test_docs.py`` runs every page).
"""

from __future__ import annotations

import re
from pathlib import Path

from rnn_oracle.architectures._diagram import MARKER, redraw
from rnn_oracle.architectures.spec import ARCHITECTURES

PAGE = Path(__file__).resolve().parents[3] / "docs" / "architectures.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_diagrams_are_what_diagram_draws_now() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert redraw(text) == text, (
        "stale diagrams: run python -m rnn_oracle.architectures._diagram docs/architectures.md"
    )
    drawn = {m.group("fields").split()[0].split("=")[1] for m in MARKER.finditer(text)}
    assert drawn == set(ARCHITECTURES)


def test_every_formula_is_followed_by_code_that_evaluates_it() -> None:
    text = PAGE.read_text(encoding="utf-8")
    pieces = text.split("$$")
    assert len(pieces) % 2 == 1 and len(pieces) > 2
    # pieces[2k + 2] is what follows display k, up to the next display.
    for k in range(1, len(pieces), 2):
        after = pieces[k + 1]
        assert BLOCK.search(after), f"formula {k // 2 + 1} has no code after it"
        assert "close(" in BLOCK.search(after).group(1)  # type: ignore[union-attr]


def test_page_code_runs() -> None:
    namespace: dict[str, object] = {"__name__": "docs_architectures"}
    for number, source in enumerate(BLOCK.findall(PAGE.read_text(encoding="utf-8")), 1):
        exec(compile(source, f"architectures.md[block {number}]", "exec"), namespace)
