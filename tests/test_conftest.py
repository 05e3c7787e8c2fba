"""The suite's own machinery (tests/conftest.py): the numpy_only tripwire."""

from __future__ import annotations

import contextlib
import importlib.util
import sys

import pytest

from tests.conftest import FRAMEWORKS, _FrameworkTripwire

pytest_plugins = ["pytester"]


@pytest.mark.parametrize("name", ["torch.not_a_module", "jax.not_a_module", "flax.not_a_module"])
def test_the_tripwire_sees_every_search_for_a_framework(name: str) -> None:
    tripwire = _FrameworkTripwire()
    sys.meta_path.insert(0, tripwire)
    try:
        with contextlib.suppress(ImportError):  # the framework is not installed here
            importlib.util.find_spec(name)
    finally:
        sys.meta_path.remove(tripwire)
    assert tripwire.asked, f"searching for {name!r} went unseen"
    assert all(a.partition(".")[0] in FRAMEWORKS for a in tripwire.asked)


def test_the_tripwire_ignores_other_packages() -> None:
    tripwire = _FrameworkTripwire()
    sys.meta_path.insert(0, tripwire)
    try:
        importlib.util.find_spec("json.not_a_module")
    except ImportError:
        pass
    finally:
        sys.meta_path.remove(tripwire)
    assert tripwire.asked == []


def test_a_numpy_only_test_that_looks_for_a_framework_fails(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("from tests.conftest import _numpy_only_tripwire  # noqa: F401\n")
    pytester.makepyfile(
        """
        import importlib.util
        import pytest

        @pytest.mark.numpy_only
        def test_claims_numpy_only_but_asks_for_jax():
            try:
                importlib.util.find_spec("jax.not_a_module")
            except ImportError:
                pass

        @pytest.mark.numpy_only
        def test_really_numpy_only():
            import json  # noqa: F401

        def test_unmarked_may_ask():
            try:
                importlib.util.find_spec("jax.not_a_module")
            except ImportError:
                pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-W", "ignore")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*marked numpy_only, but looked for*jax*"])
