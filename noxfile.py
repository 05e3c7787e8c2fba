"""Test sessions. ``nox`` runs the default ones; ``nox -s bench`` runs the benchmarks.

Each framework session installs only its framework, which proves that nothing else
is a hidden dependency. The tested framework versions are pinned here (and only
lower bounds are kept in pyproject.toml): an unpinned ``torch`` resolves to a CUDA
build of several GB.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests-numpy", "tests-torch", "tests-jax", "cross", "docs"]

PYTHON = "3.11"
TORCH = "torch==2.13.0"
JAX = "jax==0.10.2"
FLAX = "flax==0.12.8"
#: Keras 3 on the JAX backend: the built-in keras_gru cells are tested against its GRU.
KERAS = "keras==3.15.1"
PROFILE = {"HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci")}


def _pytest(session: nox.Session, *args: str, env: dict[str, str] | None = None) -> None:
    # pytest-xdist: one worker per core (2 on CI). The docs pages' code runs once, in
    # `cross`, where every framework it needs is installed.
    session.run("pytest", "-q", "-p", "no:cacheprovider", "-n", "auto",
                *(args or ("--ignore=tests/test_docs.py",)), *session.posargs,
                env={**PROFILE, **(env or {})})


def _jax_cache(session: nox.Session) -> dict[str, str]:
    """JAX's persistent compilation cache, shared by the sessions that compile (tests-jax,
    cross): the same programs compile once per nox run, not once per session and worker."""
    return {"JAX_COMPILATION_CACHE_DIR": str(session.cache_dir / "jax"),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.1"}


@nox.session(name="tests-numpy", python=PYTHON)
def tests_numpy(session: nox.Session) -> None:
    """The whole suite with NumPy only (and matplotlib, for the plots): torch and JAX
    tests skip themselves. This session also holds the full trust grid (n_h up to 256,
    T up to 1 000, both dtypes: tests/rnn_oracle/oracle/test_trust.py)."""
    session.install("-e", ".[test,plot]")
    _pytest(session, env={"RNN_ORACLE_FULL_GRID": "1"})


# Tests marked numpy_only never look for a framework (tests/conftest.py proves the mark in
# tests-numpy), so they ran there already: the framework sessions leave them out.
FRAMEWORK_TESTS = ("-m", "not numpy_only", "--ignore=tests/test_docs.py")


@nox.session(name="tests-torch", python=PYTHON)
def tests_torch(session: nox.Session) -> None:
    """NumPy and torch: every test that may look for a framework."""
    session.install("-e", ".[test]", TORCH)
    _pytest(session, *FRAMEWORK_TESTS)


@nox.session(name="tests-jax", python=PYTHON)
def tests_jax(session: nox.Session) -> None:
    """NumPy and JAX (and Flax and Keras, for their cells): every test that may look for a
    framework."""
    session.install("-e", ".[test]", JAX, FLAX, KERAS)
    _pytest(session, *FRAMEWORK_TESTS, env=_jax_cache(session))


@nox.session(python=PYTHON)
def cross(session: nox.Session) -> None:
    """Every backend in one environment: the docs pages whose examples need a framework,
    then the two cross-check matrices of ``rnn-oracle verify`` (the single layer, and
    every architecture and cell). Each backend's tests ran in its own session already; no
    test needs two frameworks at once, so the suite is not run a fourth time here."""
    session.install("-e", ".[test,plot]", TORCH, JAX, FLAX)
    cache = _jax_cache(session)
    _pytest(session, "tests/test_docs.py", env=cache)
    session.run("rnn-oracle", "verify", "--cases", "2", env=cache)
    session.run("rnn-oracle", "verify", "--all-architectures", env=cache)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff and mypy on the three packages."""
    # test: pytest and hypothesis are typed dependencies of the plugin and strategies.
    session.install("-e", ".[lint,test]")
    session.run("ruff", "check", "rnn_oracle", "backends", "conventions", "tests",
                "benchmarks", "noxfile.py", "mkdocs_hooks.py")
    session.run("mypy")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site strictly (warnings are errors; MathJax is installed
    from npm by ``mkdocs_hooks.py``), then check that every page renders all its math in
    headless Chromium with no network (a screenshot of the formulas page is kept in
    ``docs-artifacts/``). Every page's code runs in ``cross``."""
    session.install("-e", ".[docs,test]")
    site = f"{session.create_tmp()}/site"
    session.run("mkdocs", "build", "--strict", "--site-dir", site,
                env={"NO_MKDOCS_2_WARNING": "1"})
    session.run(
        "pytest", "-q", "-p", "no:cacheprovider", "tests/test_site.py",
        *session.posargs,
        env={**PROFILE, "DOCS_SITE": site, "DOCS_ARTIFACTS": os.path.abspath("docs-artifacts")},
    )


@nox.session(python=PYTHON, default=False)
def fuzz(session: nox.Session) -> None:
    """The formula parsers against 10⁵ random strings (the default run uses 10⁴)."""
    session.install("-e", ".[test]")
    session.run(
        "pytest", "-q", "-p", "no:cacheprovider", "tests/conventions/formulas", "-k", "fuzz",
        *session.posargs, env={**PROFILE, "FORMULA_FUZZ_EXAMPLES": "100000"},
    )


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks: prints tables; not part of the default run."""
    session.install("-e", ".", TORCH, JAX)
    for script in sorted(os.listdir("benchmarks")):
        if script.startswith("bench_") and script.endswith(".py"):
            session.run("python", f"benchmarks/{script}")


@nox.session(python=PYTHON, default=False)
def campaign(session: nox.Session) -> None:
    """The reliability campaign: correct NumPy, torch and Flax implementations on 30 000
    random cases (false alarms, inconclusive rate, vacuous passes) and the power against
    four mutants; prints a table, exits 1 on any false alarm or vacuous pass. Options go
    after ``--``: ``nox -s campaign -- --quick``, ``--cases N``, ``--workers K``."""
    session.install("-e", ".[test]", TORCH, JAX, FLAX)
    session.run("python", "-m", "tests.campaign.run", *session.posargs)
