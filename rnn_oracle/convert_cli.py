"""``rnn-oracle convert``: a formula from one notation, layout or vec form to another.

Exit codes: 0 success; 1 a verification failed; 2 a parse, shape or usage error (printed
with a caret under the position).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from conventions.formulas import (
    LAYOUTS,
    Formula,
    FormulaError,
    Notation,
    detect_syntax,
    parse_declarations,
    verify,
)
from conventions.formulas.differentials import gradient
from rnn_oracle.errors import OracleError

__all__ = ["add_parser", "run"]

_ADHOC = "symbols"


def add_parser(subparsers: Any) -> None:
    """Register ``convert`` on the ``rnn-oracle`` sub-command parsers."""
    from rnn_oracle.notations import NOTATIONS

    names = ", ".join(NOTATIONS)
    p = subparsers.add_parser(
        "convert",
        help="convert a formula between notations, layouts and vec forms",
        description=(
            "Parse FORMULA (LaTeX or text, e.g. 'dJ/dH = h.T @ W') in the notation --from, "
            "check its shapes, and print it in the notation --to (row <-> column vectors "
            "through the symbols' meanings), in --layout, simplified. With --verify, check "
            "numerically that the conversion says the same, and hold RNN formulas to the "
            f"oracle. Notations: {names}; or declare symbols with --symbols. Exits 0 on "
            "success, 1 when a verification fails, 2 on a parse or shape error."
        ),
    )
    p.add_argument("formula", help="the formula, LaTeX or text")
    p.add_argument("--from", dest="source", metavar="NOTATION",
                   help=f"notation of FORMULA ({names})")
    p.add_argument("--to", dest="target", metavar="NOTATION",
                   help="notation to write it in (default: --from)")
    p.add_argument("--symbols", metavar="DECLS",
                   help="declare symbols ad hoc, e.g. 'x: col[n], W: [m, n], s: scalar'")
    p.add_argument("--from-layout", choices=LAYOUTS,
                   help="layout FORMULA's derivatives are written in (default: the notation's)")
    p.add_argument("--layout", choices=LAYOUTS,
                   help="layout of the result (default: the target notation's)")
    p.add_argument("--wrt", metavar="EXPR",
                   help="denominator of the result, e.g. 'vec(W.T)' or 'vecr(W)'")
    p.add_argument("--gradient", metavar="WRT",
                   help="FORMULA is a differential statement dJ = ... (e.g. "
                        "'dJ = \\mathrm{tr}(A\\,dW\\,B)'): print the dJ/dWRT it identifies "
                        "(WRT a symbol of --from), converted to --to/--layout/--wrt; --verify "
                        "checks the identification numerically")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--latex", action="store_true", help="print LaTeX")
    out.add_argument("--text", action="store_true", help="print the text syntax")
    p.add_argument("--syntax", choices=("auto", "latex", "text"), default="auto",
                   help="syntax of FORMULA (default: LaTeX if it has \\, { or ^)")
    p.add_argument("--verify", action="store_true",
                   help="check the conversion numerically, and RNN formulas against the oracle")
    p.add_argument("--loss", choices=("literal", "standard"), default="literal",
                   help="seed 000's J: as written (+Σ y log ŷ) or the standard −Σ y log ŷ")
    p.add_argument("--step", type=int, default=None, help="step t for the oracle (0-based)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random values and case")


def _notations(args: argparse.Namespace) -> tuple[Notation, Notation]:
    from rnn_oracle.notations import get_notation

    literal = args.loss == "literal"
    if args.symbols is not None:
        for option, value in (("--from", args.source), ("--to", args.target)):
            if value not in (None, _ADHOC):
                raise OracleError(
                    f"{option} {value}: with --symbols the formula is in the declared symbols; "
                    f"leave {option} out (or give {_ADHOC!r})"
                )
        adhoc = Notation(_ADHOC, parse_declarations(args.symbols))
        return adhoc, adhoc
    if args.source is None:
        raise OracleError("--from: give the formula's notation, or declare --symbols")
    source = get_notation(args.source, literal_loss=literal)
    target = get_notation(args.target or args.source, literal_loss=literal)
    return source, target


def run(args: argparse.Namespace) -> int:
    """Run ``convert``; returns the exit status."""
    try:
        return _run(args)
    except (FormulaError, OracleError) as exc:
        print(f"rnn-oracle convert: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    source, target = _notations(args)
    syntax = detect_syntax(args.formula) if args.syntax == "auto" else args.syntax
    formula = Formula.parse(args.formula, source, layout=args.from_layout, syntax=syntax)
    statement = None
    if args.gradient is not None:
        # ∂J/∂WRT read off dJ = … in the formula's layout (derivatives inside it keep their
        # meaning), then converted like any derivative formula.
        statement, formula = formula, gradient(formula, args.gradient)
    converted = formula.convert(target, layout=args.layout, wrt=args.wrt)
    out_syntax = "latex" if args.latex else "text" if args.text else syntax
    print(converted.render(out_syntax))
    if not args.verify:
        return 0
    ok = True
    if statement is not None:
        identified = verify(statement, converted, seed=args.seed)
        print(f"identification: {identified.message}")
        ok &= identified.passed
    check = verify(formula, converted, seed=args.seed)
    print(f"conversion: {check.message}")
    ok &= check.passed
    if args.symbols is None:
        ok &= _oracle(formula, converted, args)
    return 0 if ok else 1


def _oracle(formula: Formula, converted: Formula, args: argparse.Namespace) -> bool:
    from rnn_oracle.notations import CELLS, check_against_oracle

    if formula.derivative is None:
        print("oracle: not applicable (no derivative on the left-hand side)")
        return True
    cell = CELLS.get(formula.notation.name, "tanh")
    ok = True
    for label, f in (("source", formula), ("converted", converted)):
        try:
            result = check_against_oracle(f, t=args.step, seed=args.seed, cell=cell)
        except OracleError as exc:
            print(f"oracle ({label}): not applicable: {exc}")
            continue
        cross = f" (cross-checked: {result.cross_check})" if result.cross_check else ""
        print(f"oracle ({label}): {result.message}{cross}")
        ok &= result.passed
    return ok
