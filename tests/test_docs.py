"""Every ```python block in README.md and docs/*.md runs, page by page, and asserts.

The blocks of one page share a namespace and run in order, so a page reads as one
script. Formulas on a page are each followed by a block that evaluates them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)

# Pages whose blocks need a framework; they skip cleanly when it is absent.
NEEDS = {"backends.md": ("torch", "jax")}


def _blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def test_every_page_with_formulas_has_code() -> None:
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        if "$$" in text:
            assert _blocks(page), f"{page.name} shows formulas but executes none"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_code_runs(page: Path) -> None:
    for module in NEEDS.get(page.name, ()):
        pytest.importorskip(module)
    blocks = _blocks(page)
    if not blocks:
        pytest.skip(f"{page.name} has no python blocks")
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, source in enumerate(blocks, start=1):
        code = compile(source, f"{page.name}[block {number}]", "exec")
        exec(code, namespace)
