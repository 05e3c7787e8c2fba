"""MkDocs hooks: the site serves its own MathJax, so the docs render without a network.

MathJax comes from the npm registry (``npm pack mathjax@VERSION``, checked against the
registry's pinned integrity hash), is unpacked once into ``.cache/docs/`` and is added to
the site as ``javascripts/vendor/mathjax/`` on every ``mkdocs build`` and ``mkdocs
serve``. The bundle is ``tex-mml-svg.js``: one file, TeX in and SVG out, so no web fonts
are fetched either (the theme's own fonts are switched off in ``mkdocs.yml``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

MATHJAX_VERSION = "3.2.2"
#: ``npm view mathjax@3.2.2 dist.integrity``: the tarball must match it byte for byte.
MATHJAX_INTEGRITY = (
    "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
)
#: Files taken from the package, and where they go in the site.
VENDORED = {
    "package/es5/tex-mml-svg.js": "javascripts/vendor/mathjax/tex-mml-svg.js",
    "package/LICENSE": "javascripts/vendor/mathjax/LICENSE",
}
CACHE = Path(__file__).resolve().parent / ".cache" / "docs" / f"mathjax-{MATHJAX_VERSION}"


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def _npm_pack(into: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise PluginError(
            f"the docs build installs MathJax {MATHJAX_VERSION} from the npm registry and "
            "needs npm on PATH (Debian: apt-get install npm)"
        )
    done = subprocess.run(
        [npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--json", "--pack-destination", str(into)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise PluginError(f"npm pack mathjax@{MATHJAX_VERSION} failed:\n{done.stderr.strip()}")
    (entry,) = json.loads(done.stdout)
    tarball = into / str(entry["filename"])
    got = _integrity(tarball)
    if got != MATHJAX_INTEGRITY:
        raise PluginError(
            f"mathjax@{MATHJAX_VERSION} from npm has integrity {got}, "
            f"expected {MATHJAX_INTEGRITY}; refusing to serve it"
        )
    return tarball


def vendored_mathjax() -> dict[str, Path]:
    """The site path -> local file of each vendored MathJax file, fetched when missing."""
    wanted = {site: CACHE / Path(member).name for member, site in VENDORED.items()}
    if all(path.is_file() for path in wanted.values()):
        return wanted
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE.parent) as tmp:
        work = Path(tmp)
        with tarfile.open(_npm_pack(work)) as archive:
            for member in VENDORED:
                source = archive.extractfile(member)
                if source is None:
                    raise PluginError(f"mathjax@{MATHJAX_VERSION} has no {member}")
                (work / Path(member).name).write_bytes(source.read())
        unpacked = work / "unpacked"
        unpacked.mkdir()
        for member in VENDORED:
            os.replace(work / Path(member).name, unpacked / Path(member).name)
        try:  # atomic: a concurrent build may have got there first, which is as good
            os.replace(unpacked, CACHE)
        except OSError:
            if not all(path.is_file() for path in wanted.values()):
                raise
    return wanted


def on_files(files: Files, config: Any, **_: Any) -> Files:
    for site_path, local in vendored_mathjax().items():
        files.append(File.generated(config, site_path, abs_src_path=str(local)))
    return files
