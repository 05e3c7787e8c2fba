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
