"""``report.plot()``: for each gradient, the reference, the user's gradient and their
error as heat maps side by side (a transpose shows as a mirrored pattern), and the
per-step error curve. matplotlib is imported here only.

* Errors are drawn as ``|error| / bound`` against one fixed colour scale
  (:data:`ERROR_BOUNDARIES`): within the bound (≤ 1) in calm greys and blues, past it in
  oranges and reds, so an agreeing gradient (errors around 1e-15) looks calm and a wrong
  one stands out, whatever the size of its numbers.
* Heat-map axes count entries: integer ticks only; a vector (one column) has no
  column axis.
* The per-step curve is on a log scale with a floor (a zero error sits on it) and a few
  labelled decades.
* The figure title and the panel titles wrap to their width; nothing is cut.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.colors import Colormap, LogNorm
    from matplotlib.figure import Figure

    from rnn_oracle.oracle.report import GradientReport, GradientResult

#: The fixed colour scale of the error maps, in units of the bound (log scale): from
#: ERROR_RANGE[0] (and exact zeros) to 1 in calm greys and blues, from 1 to
#: ERROR_RANGE[1] in oranges to dark red, and the "over" colour beyond.
ERROR_RANGE = (1e-8, 1e12)
CALM = ("#f7f7f7", "#9ecae1")  # the colour at ERROR_RANGE[0], and just within the bound
ALARM = ("#fdae6b", "#e6550d", "#67000d")  # just past the bound, ..., at ERROR_RANGE[1]
OVER = "#2b0006"
#: The labelled values of the error colour bar (1, the bound, among them).
ERROR_TICKS = (1e-8, 1e-4, 1.0, 1e4, 1e8, 1e12)
#: Per-step curves: ratios below this floor are drawn on it (the log scale has no 0).
CURVE_FLOOR = 1e-3
#: Approximate width of a character, in units of the font size (DejaVu Sans).
_CHAR_WIDTH = 0.6


def error_norm() -> tuple[Colormap, LogNorm]:
    """The colour map and norm every error map uses: fixed, not fitted to the data, with
    the change from calm to alarm colours exactly at ``|error| / bound = 1``."""
    from matplotlib.colors import LinearSegmentedColormap, ListedColormap, LogNorm

    size = 1000
    low, high = np.log10(ERROR_RANGE)
    calm = round(size * float(-low / (high - low)))  # colours below the bound
    # Built as one table whose calm half ends exactly at the entry for 1, so a ratio just
    # past the bound never rounds into a calm colour.
    table = np.vstack([
        LinearSegmentedColormap.from_list("calm", CALM)(np.linspace(0, 1, calm)),
        LinearSegmentedColormap.from_list("alarm", ALARM)(np.linspace(0, 1, size - calm)),
    ])
    cmap = ListedColormap(table, name="rnn_oracle_error")
    return cmap.with_extremes(over=OVER, under=CALM[0]), LogNorm(*ERROR_RANGE, clip=False)


def _as_matrix(a: np.ndarray) -> np.ndarray:
    """Any gradient as a 2-D image: vectors as a column, higher ranks flattened."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a[:, None]
    return a.reshape(a.shape[0], -1) if a.ndim > 2 else a


def _curve(g: GradientResult, report: GradientReport) -> tuple[np.ndarray | None, str]:
    if g.name == "inputs" and report.steps is not None:
        return np.array([s.ratio for s in report.steps]), "∂J/∂x_t error / bound"
    if g.step_errors is not None:
        scaled = np.asarray(g.step_errors) / max(g.atol, 1e-300)
        return scaled, "per-step change / bound (diagnosed slip)"
    return None, ""


def _wrap(text: str, width_inches: float, fontsize: float) -> str:
    """``text`` wrapped into lines that fit ``width_inches`` at ``fontsize`` points."""
    columns = max(int(width_inches * 72 / (fontsize * _CHAR_WIDTH)), 10)
    return textwrap.fill(text, width=columns, break_long_words=True, break_on_hyphens=False)


def plot_report(report: GradientReport, path: str | None = None) -> Figure:
    # A bare Figure needs no pyplot and no GUI backend, and leaves matplotlib's global
    # state as the user set it.
    from matplotlib.figure import Figure

    rows = list(report.gradients)
    width = 14.0
    fig = Figure(figsize=(width, 2.7 * max(len(rows), 1) + 0.4), layout="constrained")
    axes = fig.subplots(max(len(rows), 1), 4, squeeze=False)
    panel = width / 4 * 0.8  # a panel's title width, leaving room for its colour bar
    for row, g in zip(axes, rows, strict=False):
        ref = None if g.reference is None else _as_matrix(g.reference)
        got = None if g.got is None else _as_matrix(g.got)
        limit = max(
            float(np.nanmax(np.abs(m))) if m is not None and np.isfinite(m).any() else 0.0
            for m in (ref, got)
        ) or 1.0
        for ax, image, title in ((row[0], ref, "reference"), (row[1], got, "yours")):
            _heat(ax, image, _wrap(f"{g.name}: {title}", panel, 9), fig,
                  cmap="RdBu_r", vmin=-limit, vmax=limit)
        if ref is not None and got is not None and ref.shape == got.shape:
            cmap, norm = error_norm()
            ratio = np.abs(got - ref) / max(g.atol, 1e-300)
            ratio = np.where(np.isfinite(ratio), ratio, np.inf)  # NaN or inf: past any bound
            title = _wrap(f"|error| / bound (bound {g.atol:.1e})", panel, 9)
            # Zeros cannot sit on a log scale: they are drawn at its calm end.
            ratio = np.clip(ratio, ERROR_RANGE[0], ERROR_RANGE[1] * 10)
            bar = _heat(row[2], ratio, title, fig, extend="max", cmap=cmap, norm=norm)
            bar.set_ticks(list(ERROR_TICKS))
            bar.minorticks_off()
        else:
            row[2].set_axis_off()
            row[2].text(0.5, 0.5, _wrap(g.message, width / 4, 8), ha="center", va="center",
                        fontsize=8, transform=row[2].transAxes)
        if g.gate_map is not None:
            _gate_panel(row[3], g, fig, panel)
        else:
            _step_curve(row[3], g, report, panel)
        verdict = g.verdict if g.diagnosis is None else f"{g.verdict}: {g.diagnosis.cause}"
        row[0].set_ylabel(f"{g.name}\n({verdict})", fontsize=9)
    fig.suptitle(_wrap(report.summary, width * 0.95, 10), fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def _step_curve(ax: Any, g: GradientResult, report: GradientReport, panel: float) -> None:
    from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter

    curve, label = _curve(g, report)
    if curve is None or not curve.size:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no per-step data" if not g.passed else "agrees",
                ha="center", va="center", fontsize=9, transform=ax.transAxes)
        return
    shown = np.maximum(np.nan_to_num(curve, nan=CURVE_FLOOR, posinf=1e300), CURVE_FLOOR)
    ax.plot(np.arange(curve.size), shown, marker="o")
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="bound")
    ax.set_yscale("log")
    top = max(float(shown.max()), 10.0)
    ax.set_ylim(CURVE_FLOOR / 2, top * 2)
    # At most five labelled decades, whatever the range; minor ticks unlabelled.
    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=5))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    floor = f"  (≤ {CURVE_FLOOR:g} drawn at {CURVE_FLOOR:g})" if curve.min() < CURVE_FLOOR else ""
    ax.set_xlabel(f"time step t{floor}")
    ax.set_title(_wrap(label, panel, 9), fontsize=9)


def _gate_panel(ax: Any, g: GradientResult, fig: Any, panel: float) -> None:
    """A gated array's map: gates down, steps across (the diagnosed slip's change per gate
    block and step), or one column of your error per gate block where no slip gives
    steps; in the error maps' colours, so past the bound is orange to red."""
    from matplotlib.ticker import MaxNLocator

    m = g.gate_map
    assert m is not None
    values = m.steps if m.steps is not None else np.asarray(m.gate_errors)[:, None]
    cmap, norm = error_norm()
    shown = np.clip(np.where(np.isfinite(values), values, np.inf), ERROR_RANGE[0],
                    ERROR_RANGE[1] * 10)
    if m.steps is not None:
        starts = "" if m.starts is None else f"; starts at step {m.starts}"
        title = f"per gate and step: slip's change / bound{starts}"
    else:
        title = "per gate: your |error| / bound (all steps)"
    bar = _heat(ax, shown, _wrap(title, panel, 9), fig, extend="max", cmap=cmap, norm=norm)
    bar.set_ticks(list(ERROR_TICKS))
    bar.minorticks_off()
    ax.set_yticks(range(len(m.gates)), labels=list(m.gates))
    if m.steps is not None:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlabel("time step t")


def _heat(
    ax: Any, image: np.ndarray | None, title: str, fig: Any, extend: str = "neither",
    **style: Any,
) -> Any:
    """``image`` as a heat map with integer axes and a colour bar; returns the bar."""
    from matplotlib.ticker import MaxNLocator

    if image is None:
        ax.set_axis_off()
        return None
    shown = ax.imshow(np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0),
                      aspect="auto", interpolation="nearest", **style)
    ax.set_title(title, fontsize=9)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if image.shape[1] == 1:
        ax.set_xticks([])  # a vector (one column): there is no second index to label
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    return fig.colorbar(shown, ax=ax, shrink=0.8, extend=extend)
