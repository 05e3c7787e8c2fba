"""The API reference documents every public name, and no public name shadows a module.

Public names are those in ``__all__`` of the packages users import from; each must have
its own ``::: package.name`` entry in docs/api.md (``conventions`` is documented whole).
A module whose name equals a public attribute of its package would be replaced by that
attribute (or replace it, once imported): the module must be private (``_name.py``).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import types
from pathlib import Path

import pytest

API = Path(__file__).resolve().parent.parent / "docs" / "api.md"
PUBLIC = ("rnn_oracle", "rnn_oracle.architectures", "rnn_oracle.oracle", "backends")
FRAMEWORKS = ("torch", "jax", "jaxlib", "flax", "matplotlib")


@pytest.mark.parametrize("package", PUBLIC)
def test_every_public_name_is_in_the_api_reference(package: str) -> None:
    documented = set(re.findall(r"^::: ([\w.]+)", API.read_text(), re.M))
    module = importlib.import_module(package)
    names = [n for n in module.__all__ if not n.startswith("__")]
    missing = [n for n in names if f"{package}.{n}" not in documented
               and f"rnn_oracle.{n}" not in documented]
    assert not missing, f"docs/api.md lacks {missing} of {package}"


@pytest.mark.parametrize("top", ["rnn_oracle", "conventions", "backends"])
def test_no_public_name_shadows_a_module(top: str) -> None:
    package = importlib.import_module(top)
    shadowed = []
    for info in pkgutil.walk_packages(package.__path__, f"{top}."):
        if info.name.endswith("__main__"):
            continue
        parent, _, leaf = info.name.rpartition(".")
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as exc:  # an adapter whose framework is not installed
            if exc.name not in FRAMEWORKS:
                raise
            continue
        attribute = getattr(importlib.import_module(parent), leaf, None)
        if attribute is not None and not isinstance(attribute, types.ModuleType):
            shadowed.append(info.name)
    assert not shadowed, f"public names shadow these modules (make them private): {shadowed}"
