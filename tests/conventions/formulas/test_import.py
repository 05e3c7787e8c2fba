"""``import conventions`` stays light: no lark, torch or JAX until formulas are used."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_import_conventions_does_not_import_lark() -> None:
    _run("import sys, conventions; assert 'lark' not in sys.modules; "
         "assert 'conventions.formulas' not in sys.modules")


def test_formulas_import_lazily_and_parse_without_torch_or_jax() -> None:
    _run(
        "import sys\n"
        "from conventions import formulas as fm\n"
        "assert 'lark' not in sys.modules\n"
        "fm.parse('a @ b')\n"
        "assert 'lark' in sys.modules\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'jax')]\n"
    )
