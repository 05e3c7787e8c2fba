"""The documentation site builds strictly and its math reaches MathJax intact.

Runs where mkdocs is installed (the ``docs`` nox session); skipped elsewhere.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("material")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.mark.parametrize("page", ["quickstart", "design", "api", "layouts"])
def test_required_pages_exist(site: Path, page: str) -> None:
    assert (site / page / "index.html").is_file()


def test_math_is_handed_to_mathjax(site: Path) -> None:
    html = (site / "design" / "index.html").read_text(encoding="utf-8")
    blocks = re.findall(r'<div class="arithmatex">(.*?)</div>', html, re.DOTALL)
    inline = re.findall(r'<span class="arithmatex">(.*?)</span>', html, re.DOTALL)
    assert blocks and inline
    # The TeX survives markdown untouched: no emphasis eaten out of subscripts.
    assert any(r"\nabla_{h(t)} J = W_{hy}^\top" in b for b in blocks)
    assert "<em>" not in "".join(blocks)
    assert "mathjax" in html.lower()


def test_api_reference_is_rendered(site: Path) -> None:
    html = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("RNNSpec", "make_case", "reference", "get_backend", "ConventionError"):
        assert name in html, name
