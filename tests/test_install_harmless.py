"""Installing rnn-oracle is harmless, and the wheel says what it is.

* A project of the user's own with top-level ``backends/`` and ``conventions/`` packages
  (the names rnn-oracle installs besides ``rnn_oracle``) keeps a green test suite in an
  environment where rnn-oracle — and so its pytest plugin — is installed.
* From that project, using rnn_oracle (``from rnn_oracle import check_gradients``)
  fails with a clear ``ImportError`` that names the shadowing folder and the fix, not
  with ``cannot import name 'Backend'``.
* The wheel carries the LICENSE file and the metadata (licence, classifiers, Python
  versions, extras, the entry points).

The project runs in a subprocess of this interpreter, whose environment has rnn-oracle
installed (the nox sessions install it editable); the wheel is built with hatchling and
no build isolation, so no network is needed.
"""

from __future__ import annotations

import email
import os
import subprocess
import sys
import textwrap
import zipfile
from email.message import Message
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

USER_TEST = '''
import backends
import conventions


def test_my_backends_are_mine():
    assert backends.Backend == "the user's own Backend"


def test_my_conventions_are_mine():
    assert conventions.LAYOUT == "the user's own layout"
'''


def _clean_env() -> dict[str, str]:
    """This environment without what an outer pytest run (or the user) injected."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "PYTHONPATH", "COV_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's project with its own ``backends`` and ``conventions`` packages."""
    root = tmp_path_factory.mktemp("user_project")
    (root / "backends").mkdir()
    (root / "backends" / "__init__.py").write_text('Backend = "the user\'s own Backend"\n')
    (root / "conventions").mkdir()
    (root / "conventions" / "__init__.py").write_text('LAYOUT = "the user\'s own layout"\n')
    (root / "tests").mkdir()
    (root / "tests" / "test_mine.py").write_text(textwrap.dedent(USER_TEST))
    # The project's own pytest configuration puts its root on sys.path, as is common.
    (root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\npythonpath = ["."]\ntestpaths = ["tests"]\n'
    )
    return root


def _run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=project, capture_output=True,
                          text=True, env=_clean_env(), timeout=300)


def test_rnn_oracle_is_installed_here(project: Path) -> None:
    """The premise: the subprocess finds rnn-oracle installed, with its pytest plugin."""
    from importlib.metadata import entry_points

    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("rnn_oracle") == "rnn_oracle.pytest_plugin", plugins
    found = _run(project, "-c", "import importlib.util as u; print(u.find_spec('rnn_oracle'))")
    assert found.returncode == 0 and "rnn_oracle" in found.stdout, found.stderr


def _pytest_command(how: str) -> list[str]:
    """``python -m pytest`` (the current directory on sys.path from the start) or the
    ``pytest`` script beside this interpreter (the project's root added only later, by
    its ``pythonpath`` setting, after the plugins have loaded)."""
    if how == "python -m pytest":
        return [sys.executable, "-m", "pytest"]
    script = Path(sys.executable).with_name("pytest")
    if not script.is_file():
        pytest.skip(f"no pytest script beside {sys.executable}")
    return [str(script)]


@pytest.mark.parametrize("how", ["python -m pytest", "pytest"])
def test_a_project_with_its_own_backends_and_conventions_stays_green(
    project: Path, how: str,
) -> None:
    """Green either way: the plugin neither fails on the user's packages nor puts ours in
    ``sys.modules`` ahead of them."""
    done = subprocess.run([*_pytest_command(how), "-p", "no:cacheprovider", "-q"],
                          cwd=project, capture_output=True, text=True, env=_clean_env(),
                          timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "2 passed" in output, output


def test_the_plugin_is_loaded_in_that_run(project: Path) -> None:
    """The green run is not green because the plugin was skipped: pytest lists it."""
    done = _run(project, "-m", "pytest", "-p", "no:cacheprovider", "--co", "-q",
                "--trace-config")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "rnn_oracle" in output and "pytest_plugin" in output, output


@pytest.mark.parametrize("name", ["conventions", "backends"])
def test_import_rnn_oracle_names_the_shadowing_folder(
    tmp_path: Path, name: str,
) -> None:
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("MINE = True\n")
    # A from-import: the error comes whether rnn_oracle/__init__ imports eagerly or lazily.
    done = _run(tmp_path, "-c", "from rnn_oracle import check_gradients")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("rnn_oracle._packages.ShadowedPackageError:"), done.stderr
    assert str(tmp_path / name / "__init__.py") in last
    assert f"Rename your folder or module {name!r}" in last and "sys.path" in last
    assert "cannot import name" not in done.stderr


def test_a_shadowing_package_that_fails_to_import_is_named_too(tmp_path: Path) -> None:
    (tmp_path / "backends").mkdir()
    (tmp_path / "backends" / "__init__.py").write_text("raise RuntimeError('my own error')\n")
    done = _run(tmp_path, "-c", "from rnn_oracle import check_gradients")
    assert done.returncode == 1
    assert "ShadowedPackageError" in done.stderr and "my own error" in done.stderr
    assert str(tmp_path / "backends") in done.stderr.strip().splitlines()[-1]


def test_the_check_is_quiet_for_our_own_packages() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import rnn_oracle, backends, conventions;"
         "print(backends._DISTRIBUTION, conventions._DISTRIBUTION)"],
        cwd=ROOT, capture_output=True, text=True, env=_clean_env(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["rnn-oracle", "rnn-oracle"]


# -- the wheel ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling", reason="the test extra installs hatchling")
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(out), str(ROOT)],
        capture_output=True, text=True, env=_clean_env(), timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("rnn_oracle-*.whl")
    return built


def _metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_string(archive.read(name).decode("utf-8"))


def test_wheel_carries_the_license(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        licences = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert len(licences) == 1, archive.namelist()
        text = archive.read(licences[0]).decode()
    assert text == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    meta = _metadata(wheel)
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]


def test_wheel_metadata(wheel: Path) -> None:
    meta = _metadata(wheel)
    assert meta["Name"] == "rnn-oracle"
    assert meta["Requires-Python"] == ">=3.10"
    classifiers = meta.get_all("Classifier") or []
    minor = [c.rsplit(" ", 1)[-1] for c in classifiers
             if c.startswith("Programming Language :: Python :: 3.")]
    assert minor == ["3.10", "3.11", "3.12", "3.13"], classifiers
    assert "Framework :: Pytest" in classifiers
    # Every URL in the metadata must exist: there are none until the project has a
    # public home (no readthedocs site without a readthedocs configuration).
    assert meta.get_all("Project-URL") is None
    extras = set(meta.get_all("Provides-Extra") or [])
    assert {"torch", "jax", "plot", "all", "test", "docs", "lint"} <= extras
    # The description on the package index is the README.
    assert meta["Description-Content-Type"] == "text/markdown"
    assert "pip install rnn-oracle" in meta.get_payload()


def test_wheel_installs_the_three_packages_and_the_plugin(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = archive.read(entry).decode()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"rnn_oracle", "backends", "conventions"}
    for package in ("backends", "conventions"):
        assert f"{package}/__init__.py" in names
    assert "rnn_oracle/py.typed" in names
    assert "rnn_oracle = rnn_oracle.pytest_plugin" in entry_points
    assert "rnn-oracle = rnn_oracle.cli:run" in entry_points
