"""report.plot(): heat maps and per-step curves, written to a file."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rnn_oracle as ro
from tests.rnn_oracle.oracle.corpus import cs231n

pytest.importorskip("matplotlib")

from rnn_oracle.oracle import plot

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


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
    texts = [" ".join(t.get_text().split()) for a in fig.get_axes() for t in a.texts]
    assert any("implies shape" in t for t in texts)


# -- readability: the properties the plots are drawn for ----------------------------------


def _report(bug: str | None) -> ro.GradientReport:
    return ro.check_gradients(cs231n.make(bug), convention="cs231n", mode="layer", cases=1,
                              seq_len=5)


@pytest.fixture(scope="module")
def failing() -> Any:
    """A local_only slip: every gradient wrong, per-step ratios spanning ~12 decades."""
    fig = _report("no_dprev_h").plot()
    fig.draw_without_rendering()
    return fig


@pytest.fixture(scope="module")
def passing() -> Any:
    fig = _report(None).plot()
    fig.draw_without_rendering()
    return fig


def _labels(axis: Any) -> list[Any]:
    """The tick labels drawn inside the axis' view."""
    low, high = sorted(axis.get_view_interval())
    index = 0 if axis.axis_name == "x" else 1
    return [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()
            and low <= t.get_position()[index] <= high]


def _curve_axes(fig: Any) -> list[Any]:
    return [a for a in fig.get_axes() if a.lines and not a.images]


def test_per_step_ticks_are_few_and_do_not_overlap(failing: Any) -> None:
    curves = _curve_axes(failing)
    assert len(curves) == 4  # Wx, Wh, b (diagnosed slip) and inputs (per-step ratio)
    for ax in curves:
        data = ax.lines[0].get_ydata()
        assert max(data) / min(data) > 1e10  # the range that used to stack the labels
        labels = _labels(ax.yaxis)
        assert 2 <= len(labels) <= 6, [t.get_text() for t in labels]
        boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.y0)
        for low, high in itertools.pairwise(boxes):
            assert low.y1 <= high.y0, "tick labels overlap"


def test_heat_map_axes_are_integers_and_vectors_have_no_column_axis(failing: Any) -> None:
    images = [a for a in failing.get_axes() if a.images]
    for ax in images:
        for ticks in (ax.get_xticks(), ax.get_yticks()):
            assert np.array_equal(ticks, np.round(ticks)), ticks
        rows, cols = np.asarray(ax.images[0].get_array()).shape
        shown = [t for t in ax.get_yticks() if -0.5 <= t <= rows - 0.5]
        assert shown, ax.get_title()
        if cols == 1:  # b, a vector: no column axis running from -0.4 to 0.4
            assert len(ax.get_xticks()) == 0, ax.get_title()
    assert any(np.asarray(a.images[0].get_array()).shape[1] == 1 for a in images)


def _error_maps(fig: Any) -> list[Any]:
    return [a for a in fig.get_axes() if a.images and a.get_title().startswith("|error|")]


def test_error_maps_are_coloured_against_the_bound(failing: Any, passing: Any) -> None:
    from matplotlib.colors import LogNorm, to_rgb

    for fig in (failing, passing):
        maps = _error_maps(fig)
        assert len(maps) == 5
        for ax in maps:
            image = ax.images[0]
            norm = image.norm
            # One fixed scale for every map, not fitted to the data.
            assert isinstance(norm, LogNorm)
            assert (norm.vmin, norm.vmax) == plot.ERROR_RANGE
            # The colour turns from calm to alarm exactly at the bound.
            cmap = image.get_cmap()
            below, above = cmap(norm(0.9999)), cmap(norm(1.0001))
            assert np.allclose(below[:3], to_rgb(plot.CALM[1]), atol=0.02)
            assert np.allclose(above[:3], to_rgb(plot.ALARM[0]), atol=0.02)
    # An agreeing gradient (errors ~1e-15 against bounds ~1e-9) is calm everywhere...
    for ax in _error_maps(passing):
        assert np.asarray(ax.images[0].get_array()).max() < 1.0, ax.get_title()
    # ... and a wrong one is past the bound.
    for ax in _error_maps(failing):
        assert np.asarray(ax.images[0].get_array()).max() > 1.0, ax.get_title()


def test_error_map_of_a_transpose_is_calm_on_the_diagonal_only() -> None:
    fig = _report("dwh_transposed").plot()
    (wh,) = [a for a in _error_maps(fig) if np.asarray(a.images[0].get_array()).max() > 1.0]
    ratio = np.asarray(wh.images[0].get_array())
    assert (np.diag(ratio) < 1.0).all()
    assert (ratio[~np.eye(ratio.shape[0], dtype=bool)] > 1.0).all()


def test_titles_fit_and_are_not_cut(failing: Any) -> None:
    report_summary = _report("no_dprev_h").summary
    assert len(report_summary) > 160  # the length that used to be cut
    title = failing._suptitle
    assert " ".join(title.get_text().split()) == " ".join(report_summary.split())
    width = failing.bbox.width
    box = title.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= width, (box, width)
    for ax in failing.get_axes():
        if ax.get_title():
            box = ax.title.get_window_extent()
            assert box.x0 >= 0 and box.x1 <= width, ax.get_title()


def test_gradient_norm_plot_has_integer_steps_and_few_decades() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnn_oracle.quantities import plot_gradient_norms

    spec = ro.RNNSpec(cell="identity", n_x=3, n_h=6, n_y=3, head="none")
    ax = plot_gradient_norms(spec, seq_len=25)
    try:
        ax.figure.draw_without_rendering()
        ticks = [t for t in ax.get_xticks() if 1 <= t <= 25]
        assert ticks and np.array_equal(ticks, np.round(ticks))
        data = np.concatenate([line.get_ydata() for line in ax.lines])
        assert data.max() / data.min() > 1e15
        labels = _labels(ax.yaxis)
        assert 2 <= len(labels) <= 7, [t.get_text() for t in labels]
        boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.y0)
        for low, high in itertools.pairwise(boxes):
            assert low.y1 <= high.y0
    finally:
        plt.close(ax.figure)
