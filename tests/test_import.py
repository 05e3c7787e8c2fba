"""Fast import: the three packages load neither torch nor JAX."""

from __future__ import annotations

import subprocess
import sys


def test_packages_import_no_framework() -> None:
    code = (
        "import sys, rnn_oracle, conventions, backends\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'jax', 'jaxlib'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_check_loads_what_it_needs_only() -> None:
    """``check_gradients`` loads the oracle, not the verify matrices, the diagram, the
    formula language or the report's pretty-printer (rich), nor any framework."""
    code = (
        "import sys, rnn_oracle as ro\n"
        "ro.check_gradients\n"
        "unneeded = ('rnn_oracle.architectures.verify', 'rnn_oracle._verify', "
        "'rnn_oracle.architectures._diagram', 'conventions.formulas', 'rich', 'torch', 'jax')\n"
        "loaded = sorted(m for m in unneeded if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
