"""Text diagrams of a :class:`NetworkSpec`, unrolled over a few steps: ``diagram(spec)``.

Rows run from the head (top) down to the inputs; columns are time steps. A block's row
shows its states ``h_t`` with the recurrence arrow (``-->`` forward in time, ``<--`` for a
backward block, which starts from its ``h_0`` on the right); ``^`` marks what a row reads
from the row below, and the note at the end of a connector says what flows. The
documentation embeds these diagrams (``docs/architectures.md``) and a test checks that they
equal what this module draws now; ``python -m rnn_oracle.architectures._diagram PAGE``
redraws every diagram on a page.

A diagram on a page is a fenced ``text`` block right after a marker line
``<!-- diagram: architecture=stacked cell=gru -->`` whose ``key=value`` pairs are
:class:`NetworkSpec` fields.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from rnn_oracle.architectures.spec import NetworkSpec
from rnn_oracle.errors import OracleError

#: Width of one time-step column and of the gap between two columns.
CELL = 5
GAP = 5
#: Width of the row labels.
LABEL = 28

_HEAD = {"softmax_ce": "ŷ", "linear_mse": "o", "none": "g"}


@dataclass
class _Row:
    label: str
    cells: list[str]  #: one per column (``""``: nothing there)
    arrows: list[str] = field(default_factory=list)  #: one per gap (``""``: none)


def _columns(spec: NetworkSpec, steps: int) -> tuple[list[str], int]:
    """Column headings (time steps) and where the decoder starts (encoder_decoder)."""
    if spec.architecture == "encoder_decoder":
        return [f"t={t}" for t in range(1, steps + 1)] * 2, steps
    return [f"t={t}" for t in range(1, steps + 1)], 0


def _block_row(spec: NetworkSpec, prefix: str, backward: bool, n: int, name: str = "h",
               start: int = 0, stop: int | None = None, init: bool = True) -> _Row:
    """A recurrent block over columns ``start .. stop − 1`` of ``n`` (plus the two
    initial-state columns at either end)."""
    stop = n if stop is None else stop
    cells = [""] * (n + 2)
    arrows = [""] * (n + 1)
    state = "h,c" if spec.cell == "lstm" else "h"
    arrow = ("←" if backward else "→") if spec.bidirectional else ""
    for k, col in enumerate(range(start, stop)):
        cells[col + 1] = f"{arrow}{name}_{k + 1}"
    for col in range(start, stop - 1):
        arrows[col + 1] = "<--" if backward else "-->"
    if init:
        if backward:
            cells[stop + 1] = f"{state}_0"
            arrows[stop] = "<--"
        else:
            cells[start] = f"{state}_0"
            arrows[start] = "-->"
    cell = spec.cell + (" (h,c)" if spec.cell == "lstm" else "")
    return _Row(f"{prefix.rstrip('.')}  {cell}", cells, arrows)


def _line(row: _Row, n: int) -> str:
    parts = [row.label.ljust(LABEL)]
    for col in range(n + 2):
        parts.append(row.cells[col].center(CELL))
        if col < n + 1:
            arrow = row.arrows[col] if col < len(row.arrows) else ""
            parts.append(arrow.center(GAP))
    return "".join(parts).rstrip()


def _connector(columns: Sequence[int], n: int, note: str) -> str:
    parts = [" " * LABEL]
    for col in range(n + 2):
        parts.append(("^" if col - 1 in columns else "").center(CELL))
        if col < n + 1:
            parts.append(" " * GAP)
    text = "".join(parts).rstrip()
    return f"{text}    {note}".rstrip() if note else text


def diagram(spec: NetworkSpec, steps: int = 3) -> str:
    """An ASCII diagram of ``spec`` unrolled over ``steps`` time steps (per sequence;
    encoder_decoder shows ``steps`` encoder and ``steps`` decoder steps)."""
    if not isinstance(spec, NetworkSpec):
        raise OracleError(f"diagram: spec must be a NetworkSpec, got {type(spec).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= 6:
        raise OracleError(f"diagram: steps must be an integer from 2 to 6, got {steps!r}")
    arch = spec.architecture
    headings, dec = _columns(spec, steps)
    n = len(headings)
    every = list(range(n))
    lines: list[str] = [f"{spec.label}: n_x={spec.n_x}, n_h={spec.n_h}, n_y={spec.n_y}, "
                        f"head {spec.head}"]
    head_name = _HEAD[spec.head]
    out_cols = every
    if arch == "many_to_one":
        out_cols = [n - 1]
    elif arch == "encoder_decoder":
        out_cols = list(range(dec, n))
    head_cells = [""] * (n + 2)
    for k, col in enumerate(out_cols):
        t = steps if arch == "many_to_one" else k + 1
        head_cells[col + 1] = f"{head_name}_{t}"
    head_label = "given ∂J/∂top_t" if spec.head == "none" else f"head {spec.head}"
    rows: list[tuple[_Row, list[int], str]] = []  # row, columns it reads from below, note
    top_note = "top_t = [→h_t; ←h_t]" if spec.bidirectional else "top_t = h_t"
    rows.append((_Row(head_label, head_cells), out_cols, top_note))

    if arch == "encoder_decoder":
        enc = _block_row(spec, "encoder.", False, n, "h", 0, dec)
        decoder = _block_row(spec, "decoder.", False, n, "s", dec, n, init=False)
        cells = [d or e for e, d in zip(enc.cells, decoder.cells, strict=True)]
        arrows = [d or e for e, d in zip(enc.arrows, decoder.arrows, strict=True)]
        arrows[dec] = "==>"
        label = f"encoder ==> decoder  {enc.label.split('  ', 1)[1]}"
        label = label.replace("encoder ==> decoder", "enc ==> dec")
        rows.append((_Row(label, cells, arrows), every, "x_t, then d_t"))
        inputs = [""] + [f"x_{t}" for t in range(1, steps + 1)] + [
            f"d_{t}" for t in range(1, steps + 1)] + [""]
        rows.append((_Row("inputs, decoder_inputs", inputs), [], ""))
    elif arch == "one_to_many":
        rows.append((_block_row(spec, "layer0.forward.", False, n), every, "x_t"))
        fed = {"none": "0", "output": head_name, "hidden": "h"}[spec.feedback]
        inputs = ["", "x_1"] + [
            fed if fed == "0" else f"{fed}_{t}" for t in range(1, steps)
        ] + [""]
        label = "inputs" if spec.feedback == "none" else f"inputs (feedback {spec.feedback})"
        rows.append((_Row(label, inputs), [], ""))
    else:
        for layer in range(spec.layers - 1, -1, -1):
            below = "x_t" if layer == 0 else (
                "[→h_t; ←h_t] of the layer below" if spec.bidirectional
                else "h_t of the layer below")
            if spec.bidirectional:
                rows.append((_block_row(spec, f"layer{layer}.backward.", True, n), [], ""))
                rows.append((_block_row(spec, f"layer{layer}.forward.", False, n), every,
                             f"{below}, to both directions"))
            else:
                rows.append((_block_row(spec, f"layer{layer}.forward.", False, n), every,
                             below))
        rows.append((_Row("inputs", [""] + [f"x_{t}" for t in range(1, steps + 1)] + [""]),
                     [], ""))

    header = _Row("", ["", *headings, ""])
    if arch == "encoder_decoder":
        header.cells = [""] + [f"enc{t}" for t in range(1, steps + 1)] + [
            f"dec{t}" for t in range(1, steps + 1)] + [""]
    lines.append(_line(header, n))
    for k, (row, _, _) in enumerate(rows):
        if k > 0:
            above_cols, note = rows[k - 1][1], rows[k - 1][2]
            if above_cols:
                lines.append(_connector(above_cols, n, note))
        lines.append(_line(row, n))
    return "\n".join(lines) + "\n"


MARKER = re.compile(
    r"^<!-- diagram: (?P<fields>[^>]*?) -->\n```text\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


def spec_from_marker(fields: str) -> NetworkSpec:
    """The :class:`NetworkSpec` a marker names (``architecture=stacked cell=gru n_h=4``)."""
    kwargs: dict[str, object] = {}
    for item in fields.split():
        key, sep, value = item.partition("=")
        if not sep:
            raise OracleError(f"diagram marker: expected key=value, got {item!r}")
        kwargs[key] = int(value) if value.isdigit() else value
    try:
        return NetworkSpec(**kwargs)  # type: ignore[arg-type]
    except TypeError as exc:
        raise OracleError(f"diagram marker: {exc}") from exc


def redraw(text: str) -> str:
    """``text`` with every marked diagram block redrawn from its marker."""

    def fill(match: re.Match[str]) -> str:
        spec = spec_from_marker(match.group("fields"))
        return f"<!-- diagram: {match.group('fields')} -->\n```text\n{diagram(spec)}```"

    return MARKER.sub(fill, text)


def main(argv: Sequence[str] | None = None) -> int:
    """Redraw the diagrams of the given Markdown pages in place."""
    for path in argv if argv is not None else sys.argv[1:]:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(redraw(text))
    return 0


if __name__ == "__main__":
    import argparse
    import os

    _cli = argparse.ArgumentParser(
        prog="python -m rnn_oracle.architectures._diagram",
        description="Redraw, in place, every marked architecture diagram on the given "
        "Markdown pages (a fenced text block after '<!-- diagram: key=value ... -->').",
    )
    _cli.add_argument("pages", nargs="+", metavar="PAGE.md", help="the pages to redraw")
    _pages = _cli.parse_args().pages
    for _page in _pages:
        if not os.path.isfile(_page):
            _cli.error(f"no such file {_page!r}")
    try:
        sys.exit(main(_pages))
    except OracleError as _exc:
        _cli.error(str(_exc))
