"""``report.plot()``: for each gradient, the reference, the user's gradient and their
difference as heat maps side by side (a transpose shows as a mirrored pattern), and the
per-step error curve. matplotlib is imported here only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from rnn_oracle.oracle.report import GradientReport, GradientResult


def _as_matrix(a: np.ndarray) -> np.ndarray:
    """Any gradient as a 2-D image: vectors as a column, sequences with time down."""
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
        return scaled, "diagnosed slip: per-step change / bound"
    return None, ""


def plot_report(report: GradientReport, path: str | None = None) -> Figure:
    # A bare Figure needs no pyplot and no GUI backend, and leaves matplotlib's global
    # state as the user set it.
    from matplotlib.figure import Figure

    rows = list(report.gradients)
    fig = Figure(figsize=(13, 2.6 * max(len(rows), 1)), layout="constrained")
    axes = fig.subplots(max(len(rows), 1), 4, squeeze=False)
    for row, g in zip(axes, rows, strict=False):
        ref = None if g.reference is None else _as_matrix(g.reference)
        got = None if g.got is None else _as_matrix(g.got)
        limit = max(
            float(np.nanmax(np.abs(m))) if m is not None and np.isfinite(m).any() else 0.0
            for m in (ref, got)
        ) or 1.0
        for ax, image, title in ((row[0], ref, "reference"), (row[1], got, "yours")):
            _heat(ax, image, f"{g.name}: {title}", "RdBu_r", -limit, limit, fig)
        if ref is not None and got is not None and ref.shape == got.shape:
            _heat(row[2], np.abs(got - ref), f"|error| (bound {g.atol:.1e})", "magma", 0.0,
                  None, fig)
        else:
            row[2].set_axis_off()
            row[2].text(0.5, 0.5, g.message, ha="center", va="center", wrap=True, fontsize=8)
        curve, label = _curve(g, report)
        ax = row[3]
        if curve is not None and curve.size:
            ax.plot(np.arange(curve.size), curve, marker="o")
            ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
            ax.set_yscale("symlog", linthresh=1e-3)
            ax.set_xlabel("time step t")
            ax.set_title(label, fontsize=9)
        else:
            ax.set_axis_off()
            ax.text(0.5, 0.5, "no per-step data" if not g.passed else "agrees",
                    ha="center", va="center", fontsize=9)
        verdict = g.verdict if g.diagnosis is None else f"{g.verdict}: {g.diagnosis.cause}"
        row[0].set_ylabel(f"{g.name}\n({verdict})", fontsize=9)
    fig.suptitle(report.summary[:160], fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def _heat(
    ax: Any, image: np.ndarray | None, title: str, cmap: str, vmin: float, vmax: float | None,
    fig: Any,
) -> None:
    if image is None:
        ax.set_axis_off()
        return
    shown = ax.imshow(np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0), cmap=cmap,
                      vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    ax.set_title(title, fontsize=9)
    fig.colorbar(shown, ax=ax, shrink=0.8)
