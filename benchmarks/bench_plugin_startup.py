"""What the pytest plugin adds to every pytest start in an environment with rnn-oracle.

A scratch project with one trivial test is collected (``pytest --co -q``) in fresh
subprocesses, with plugin autoloading on, so the installed ``pytest11`` entry point loads
the plugin as it would in any user's project; the same run with ``-p no:rnn_oracle`` is the
baseline. Each row is the median wall time of ``--repeat`` runs, the two kinds alternating
(after one warm-up run of each, which fills the OS file cache). The import cost of
``rnn_oracle.pytest_plugin`` alone is measured with ``python -X importtime``: the plugin
module and everything its import brings in past pytest itself, the ``rnn_oracle``
package's ``__init__`` included. On a loaded machine the wall times move by tens of
milliseconds or more; the import rows are the steadier measure.

The target: the plugin adds less than 50 ms. Run:
``python benchmarks/bench_plugin_startup.py [--repeat N]`` (rnn-oracle must be installed,
editable or not, so that the entry point exists).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 50.0


def _env() -> dict[str, str]:
    """This environment, without what an outer pytest run put there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _time_pair(a: list[str], b: list[str], cwd: Path, repeat: int) -> tuple[float, float]:
    """Median wall times of ``a`` and ``b`` in seconds, run alternately (so that a change
    in the machine's load hits both alike), after one warm-up run of each."""
    times: tuple[list[float], list[float]] = ([], [])
    for k in range(repeat + 1):
        for cmd, out in ((a, times[0]), (b, times[1])):
            start = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, check=True)
            if k:
                out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def _import_ms(module: str, cwd: Path) -> float:
    """Cumulative import time of ``module`` (``-X importtime``), in milliseconds."""
    # pytest is imported first: in a test session it is loaded before any plugin.
    done = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           f"import pytest; import {module}"],
                          cwd=cwd, env=_env(), capture_output=True, text=True, check=True)
    total = 0
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)$", line)
        if match and match.group(2) == module.split(".")[0]:
            total = max(total, int(match.group(1)))
        if match and match.group(2) == module:
            total = max(total, int(match.group(1)))
    return total / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per row (median)")
    args = parser.parse_args(argv)
    from importlib.metadata import entry_points

    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    if plugins.get("rnn_oracle") != "rnn_oracle.pytest_plugin":
        print("rnn-oracle's pytest11 entry point is not installed here; "
              "pip install -e . first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
        base = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"]
        without, with_plugin = _time_pair([*base, "-p", "no:rnn_oracle"], base, project,
                                          args.repeat)
        plugin_import = _import_ms("rnn_oracle.pytest_plugin", project)
        package_import = _import_ms("rnn_oracle", project)
    added = (with_plugin - without) * 1000
    rows = [
        ("pytest --co, -p no:rnn_oracle", f"{without * 1000:8.0f} ms"),
        ("pytest --co, plugin loaded", f"{with_plugin * 1000:8.0f} ms"),
        ("added by the plugin", f"{added:8.0f} ms"),
        ("import rnn_oracle.pytest_plugin", f"{plugin_import:8.0f} ms"),
        ("  of which import rnn_oracle", f"{package_import:8.0f} ms"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'pytest start (median of ' + str(args.repeat) + ')':{width}}  {'time':>11}")
    print(f"{'-' * width}  {'-' * 11}")
    for name, value in rows:
        print(f"{name:{width}}  {value:>11}")
    verdict = "within" if added < TARGET_MS else "OVER"
    print(f"\ntarget: the plugin adds < {TARGET_MS:.0f} ms -> {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
