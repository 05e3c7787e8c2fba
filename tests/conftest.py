"""Hypothesis profiles, chosen by the ``HYPOTHESIS_PROFILE`` environment variable.

``dev`` (default) keeps runs short; ``ci`` draws more examples. Both disable the deadline:
a first JIT compile (JAX, torch) takes longer than any sensible per-example limit.
"""

from __future__ import annotations

import os

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
