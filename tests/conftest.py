"""Hypothesis profiles, chosen by the ``HYPOTHESIS_PROFILE`` environment variable.

``dev`` (default) keeps runs short; ``ci`` draws more examples. Both disable the deadline:
a first JIT compile (JAX, torch) takes longer than any sensible per-example limit.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# -- numpy_only: tests that never see a framework ----------------------------------------
# The framework sessions (nox tests-torch, tests-jax) deselect them: they ran in
# tests-numpy already, and nothing in them can behave differently where torch or JAX is
# installed. The mark is a claim, and this tripwire proves it where it matters: in
# tests-numpy no framework is imported, so every attempt to find one (an import, an
# importorskip, backends.available_backends()) passes through the finder below and fails
# the test.
FRAMEWORKS = frozenset({"torch", "jax", "jaxlib", "flax"})


class _FrameworkTripwire(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.asked: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in FRAMEWORKS:
            self.asked.append(name)
        return None


@pytest.fixture(autouse=True)
def _numpy_only_tripwire(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("numpy_only") is None:
        yield
        return
    tripwire = _FrameworkTripwire()
    sys.meta_path.insert(0, tripwire)
    try:
        yield
    finally:
        sys.meta_path.remove(tripwire)
    if tripwire.asked:
        pytest.fail(
            f"marked numpy_only, but looked for {sorted(set(tripwire.asked))}: remove the "
            "mark, so that the framework sessions run this test too"
        )
