"""The documentation site builds strictly, and renders all its math with no network.

Runs where mkdocs is installed (the ``docs`` nox session); skipped elsewhere. The browser
tests open every page of the built site in headless Chromium, served from localhost,
with every request that would leave localhost refused and recorded: no raw ``\\(`` or
``\\[`` may remain in the rendered text (headings and the table of contents included),
no console error may be logged, and nothing may be fetched from elsewhere. They skip,
with the reason, only where no Chromium is installed (``apt-get install chromium``); a
screenshot of the formulas page is kept in ``$DOCS_ARTIFACTS`` (default
``docs-artifacts/``).

``$DOCS_SITE``, when set, names an already built site to test instead of building one
(the ``docs`` session builds once).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage
    from playwright.sync_api import Error as PlaywrightError

pytest.importorskip("mkdocs")
pytest.importorskip("material")

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("DOCS_ARTIFACTS", ROOT / "docs-artifacts"))
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Second line of defence behind the request filter: no name resolves but localhost.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("DOCS_SITE")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _pages(site: Path) -> list[str]:
    return sorted(
        str(p.parent.relative_to(site)).replace(os.sep, "/")
        for p in site.rglob("index.html")
    )


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


def test_every_script_and_stylesheet_is_the_sites_own(site: Path) -> None:
    """No page loads anything from another host: MathJax, fonts and styles are local."""
    for page in _pages(site):
        html = (site / page / "index.html").read_text(encoding="utf-8")
        loaded = re.findall(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="([^"]+)"', html)
        external = [u for u in loaded if re.match(r"(https?:)?//", u)]
        assert not external, (page, external)
        assert "vendor/mathjax/tex-mml-svg.js" in html, page
    mathjax = site / "javascripts" / "vendor" / "mathjax"
    assert (mathjax / "tex-mml-svg.js").stat().st_size > 1_000_000
    assert "Apache License" in (mathjax / "LICENSE").read_text(encoding="utf-8")


def test_api_reference_is_rendered(site: Path) -> None:
    html = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("RNNSpec", "make_case", "reference", "get_backend", "ConventionError"):
        assert name in html, name


# -- in a browser, offline -------------------------------------------------------------


def _chromium() -> str | None:
    given = os.environ.get("CHROMIUM")
    if given:
        return given
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Rendered:
    """What the browser saw of one page."""

    raw_math: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    toc_math: int = 0
    toc_text: str = ""


# Text nodes outside code, scripts and MathJax's own output; their raw TeX delimiters.
_RAW_MATH_JS = r"""() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest("pre, code, script, style, textarea, mjx-container")) continue;
    const text = node.textContent;
    if (text.includes("\\(") || text.includes("\\[")) found.push(text.trim().slice(0, 120));
  }
  return found;
}"""

_TOC_JS = r"""() => {
  const toc = document.querySelector("nav.md-nav--secondary");
  if (!toc) return [0, ""];
  return [toc.querySelectorAll("mjx-container").length, toc.innerText];
}"""


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _on_console(result: Rendered, message: ConsoleMessage) -> None:
    if message.type == "error":
        result.console_errors.append(message.text)


def _on_page_error(result: Rendered, error: PlaywrightError) -> None:
    result.console_errors.append(str(error))


@pytest.fixture(scope="module")
def rendered(
    site: Path, served: str, tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Rendered], list[str]]:
    """Every page, opened offline in headless Chromium; and the requests refused."""
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium to render the site in (apt-get install chromium)")
    from playwright.sync_api import Route, sync_playwright

    refused: list[str] = []

    def only_localhost(route: Route) -> None:
        url = route.request.url
        if url == served or url.startswith((served + "/", "data:", "blob:")):
            route.continue_()
        else:
            refused.append(url)
            route.abort("internetdisconnected")

    profile = tmp_path_factory.mktemp("chromium-profile")
    results: dict[str, Rendered] = {}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=chromium, args=CHROMIUM_FLAGS, headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            context.route("**/*", only_localhost)
            for page_path in _pages(site):
                result = Rendered()
                page = context.new_page()
                page.on("console", functools.partial(_on_console, result))
                page.on("pageerror", functools.partial(_on_page_error, result))
                url = f"{served}/{'' if page_path == '.' else page_path + '/'}"
                page.goto(url, wait_until="load")
                page.wait_for_function("() => window.MathJax && MathJax.startup"
                                       " && MathJax.startup.promise", timeout=30_000)
                page.evaluate("() => MathJax.startup.promise")
                page.evaluate("() => MathJax.typesetPromise()")
                result.raw_math = page.evaluate(_RAW_MATH_JS)
                result.toc_math, result.toc_text = page.evaluate(_TOC_JS)
                if page_path == "formulas":
                    page.screenshot(path=str(ARTIFACTS / "formulas.png"))
                    heading = page.locator("h2", has_text="the answer's").first
                    heading.scroll_into_view_if_needed()
                    page.wait_for_timeout(500)  # the theme's header title swap settles
                    page.screenshot(path=str(ARTIFACTS / "formulas-heading-math.png"))
                results[page_path] = result
                page.close()
        finally:
            context.close()
    return results, refused


def test_every_page_renders_all_its_math_offline(
    rendered: tuple[dict[str, Rendered], list[str]], site: Path,
) -> None:
    pages, _ = rendered
    assert set(pages) == set(_pages(site))
    raw = {page: r.raw_math for page, r in pages.items() if r.raw_math}
    assert not raw, raw


def test_no_console_errors(rendered: tuple[dict[str, Rendered], list[str]]) -> None:
    pages, _ = rendered
    errors = {page: r.console_errors for page, r in pages.items() if r.console_errors}
    assert not errors, errors


def test_nothing_is_fetched_from_the_network(
    rendered: tuple[dict[str, Rendered], list[str]],
) -> None:
    _, refused = rendered
    assert not refused, sorted(set(refused))


def test_math_in_headings_renders_in_the_table_of_contents(
    rendered: tuple[dict[str, Rendered], list[str]], site: Path,
) -> None:
    pages, _ = rendered
    html = (site / "formulas" / "index.html").read_text(encoding="utf-8")
    headings_with_math = len(re.findall(r"<h[2-6][^>]*>[^\n]*?class=\"arithmatex\"", html))
    assert headings_with_math >= 1
    toc = pages["formulas"]
    assert toc.toc_math >= headings_with_math, toc.toc_text
    assert "\\(" not in toc.toc_text


def test_the_formulas_screenshot_is_kept(
    rendered: tuple[dict[str, Rendered], list[str]],
) -> None:
    for name in ("formulas.png", "formulas-heading-math.png"):
        shot = ARTIFACTS / name
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot
        assert shot.stat().st_size > 10_000
