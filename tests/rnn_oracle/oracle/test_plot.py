"""report.plot(): heat maps and per-step curves, written to a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rnn_oracle as ro
from tests.rnn_oracle.oracle.corpus import cs231n

pytest.importorskip("matplotlib")


def test_plot_draws_a_row_per_gradient_and_writes_png(tmp_path: Path) -> None:
    report = ro.check_gradients(cs231n.make("dwh_transposed"), convention="cs231n",
                                mode="layer", cases=1, seq_len=5)
    path = tmp_path / "errors.png"
    fig = report.plot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    axes = fig.get_axes()
    images = [a for a in axes if a.images]
    # reference, yours, error for each of the 5 gradients (colour bars are axes too).
    assert len(images) == 15
    # The transposed gradient shows as the mirror image of the reference.
    wh = [a for a in images if a.get_title().startswith("Wh:")]
    ref, got = (np.asarray(a.images[0].get_array()) for a in wh)
    assert np.allclose(got, ref.T)


def test_plot_of_a_wrong_shape_says_so() -> None:
    from tests.rnn_oracle.oracle.corpus import karpathy

    report = ro.check_gradients(karpathy.make("swap_wxh_whh"), convention="karpathy", cases=1)
    fig = report.plot()
    texts = [t.get_text() for a in fig.get_axes() for t in a.texts]
    assert any("implies shape" in t for t in texts)
