"""``rnn-oracle convert``: formulas from one notation, layout or vec form to another, and
with ``--verify`` checked for truth.

Input is one statement, a chain ``a = b = c`` or a whole derivation block (``aligned``,
``\\eqalign``, one statement a line; ``--file`` reads it from a file): names a statement
defines (``\\delta^{(t)} = ...``) are in scope for those after it.

With ``--verify``, RNN notations are held to the oracle's network; ``--cell``,
``--head``, ``--loss-sign`` and ``--reduction`` say which one, each defaulting to the
network the oracle always checked (the notation's cell, softmax cross-entropy, the
standard sign, summed over time).

Exit codes (:class:`rnn_oracle.errors.ExitCode`): without ``--verify`` 0 when everything
converted; with it 0 only when every statement was checked and is true, 1 when one is
checked and false, 3 when none is false but one could not be judged; 2 on a usage, parse
or shape error. "The conversion agrees" is reported apart and never counts as verified.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from conventions.formulas import (
    ASSUMPTIONS,
    LAYOUTS,
    Formula,
    FormulaError,
    Notation,
    check_truth,
    detect_syntax,
    parse_assumptions,
    parse_declarations,
    verify,
)
from conventions.formulas.differentials import gradient
from rnn_oracle import _packages  # noqa: F401  (first: conventions and backends are ours)
from rnn_oracle.errors import ExitCode, NotJudgedError, OracleError
from rnn_oracle.spec import CELLS, HEADS, LOSS_SIGNS, REDUCTIONS

__all__ = ["add_parser", "run"]

_ADHOC = "symbols"
CELL_CHOICES = CELLS
# The oracle's notations write o, ŷ, y and L: every head with an output layer.
HEAD_CHOICES = tuple(h for h in HEADS if h != "none")
# The network the oracle checked before these options existed; a default never changes it.
_NETWORK_DEFAULTS = {"head": "softmax_ce", "loss_sign": "standard", "reduction": "sum"}


def add_parser(subparsers: Any) -> None:
    """Register ``convert`` on the ``rnn-oracle`` sub-command parsers."""
    from rnn_oracle.notations import NOTATIONS
    from rnn_oracle.params import ALIASES

    names = ", ".join(n for n in NOTATIONS if n not in ALIASES)
    p = subparsers.add_parser(
        "convert",
        help="convert a formula between notations, layouts and vec forms",
        description=(
            "Parse FORMULA (LaTeX or text, e.g. 'dJ/dH = h.T @ W'; a chain or a whole "
            "block, whose definitions stay in scope) in the notation --from, check its "
            "shapes, and print it in the notation --to (row <-> column vectors through the "
            "symbols' meanings), in --layout, simplified. With --verify, check each "
            "statement for truth (declared --symbols at random values, RNN notations "
            "against the oracle's network: --cell, --head, --loss-sign, --reduction) and, "
            "apart, that the conversion says the same. "
            f"Notations: {names}; or declare symbols with --symbols. Exit codes: 0 checked "
            "and true (or, without --verify, converted), 1 checked and false, 2 usage, "
            "parse or shape error, 3 nothing could be judged."
        ),
    )
    p.add_argument("formula", nargs="?", default=None,
                   help="the formula, a chain or a whole block, LaTeX or text")
    p.add_argument("--file", metavar="PATH", help="read the formula or block from PATH")
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
                   help="check each statement for truth (symbols: at random values; RNN "
                        "notations: against the oracle), and the conversion numerically")
    p.add_argument("--loss", choices=("literal", "standard"), default="literal",
                   help="a notation's loss as its source writes it (CS224n's J in math.SE "
                        "2512465 is +Σ y log ŷ) or the standard −Σ y log ŷ")
    p.add_argument("--cell", choices=CELL_CHOICES, default=None,
                   help="hidden nonlinearity of the oracle's RNN (default: the notation's)")
    p.add_argument("--head", choices=HEAD_CHOICES, default=None,
                   help="output head of the oracle's RNN: softmax_ce (yhat = softmax(o), "
                        "L[t] = -Σ y log yhat, one-hot y) or linear_mse (yhat = o, L[t] = "
                        "½‖o - y‖², dense y) (default: softmax_ce)")
    p.add_argument("--loss-sign", choices=LOSS_SIGNS, default=None,
                   help="sign of every step's loss L[t] in the oracle's RNN: standard or "
                        "negated (a log-likelihood) (default: standard); apart from --loss, "
                        "which says how a notation's own J reads")
    p.add_argument("--reduction", choices=REDUCTIONS, default=None,
                   help="how the oracle's loss L reduces the steps' L[t] over time: sum or "
                        "mean (L = (1/T) Σ_t L[t], T = 4 steps) (default: sum)")
    p.add_argument("--assume", metavar="ASSUMPTIONS",
                   help="with --symbols: what values to draw, e.g. 'B: symmetric, p: "
                        f"probability' ({', '.join(ASSUMPTIONS)})")
    p.add_argument("--step", type=int, default=None,
                   help="step t for the oracle (0-based; 0..3, the last included)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random values and case")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (also on error)")


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


def _source_text(args: argparse.Namespace) -> str:
    if (args.formula is None) == (args.file is None):
        raise OracleError("formula: give FORMULA or --file PATH (one of them)")
    if args.file is None:
        return str(args.formula)
    try:
        with open(args.file, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise OracleError(f"--file {args.file}: cannot read it ({exc.strerror})") from None


def _check_options(args: argparse.Namespace) -> None:
    if args.seed < 0:
        raise OracleError(f"--seed: expected a non-negative integer, got {args.seed}")
    if args.assume is not None and args.symbols is None:
        raise OracleError("--assume: assumptions are on --symbols; RNN notations take the "
                          "oracle's values")
    if args.symbols is not None:
        for option in ("--cell", "--head", "--loss-sign", "--reduction"):
            if getattr(args, option[2:].replace("-", "_")) is not None:
                raise OracleError(f"{option}: the oracle's network is for RNN notations; "
                                  "--symbols are checked at random values")
    if args.step is not None:
        from rnn_oracle.notations import _Step

        last = _Step.SEQ_LEN - 1
        if not 0 <= args.step <= last:
            raise OracleError(f"--step: expected a step 0 <= t <= {last} (0-based, "
                              f"{_Step.SEQ_LEN} steps), got {args.step}")


def run(args: argparse.Namespace) -> int:
    """Run ``convert``; returns the exit status."""
    try:
        report = _run(args)
    except (FormulaError, OracleError) as exc:
        code = int(getattr(exc, "exit_code", ExitCode.USAGE))
        if args.json:
            print(json.dumps({"error": str(exc), "exit_code": code}))
        else:
            print(f"rnn-oracle convert: error: {exc}", file=sys.stderr)
        return code
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    return int(report["exit_code"])


def _run(args: argparse.Namespace) -> dict[str, Any]:
    _check_options(args)
    source, target = _notations(args)
    text = _source_text(args)
    syntax = detect_syntax(text) if args.syntax == "auto" else args.syntax
    assume = parse_assumptions(args.assume) if args.assume else {}
    out_syntax = "latex" if args.latex else "text" if args.text else syntax
    statements = source.read_block(text, layout=args.from_layout, syntax=syntax)
    if not statements:
        raise OracleError("formula: no statement found")
    results = []
    verdicts = []
    for statement in statements:
        result, verdict = _statement(statement, target, args, assume, out_syntax)
        results.append(result)
        if verdict is not None:
            verdicts.append(verdict)
    if not args.verify:
        code = ExitCode.RIGHT
    elif ExitCode.WRONG in verdicts:
        code = ExitCode.WRONG
    elif ExitCode.NOT_JUDGED in verdicts or not verdicts:
        code = ExitCode.NOT_JUDGED
    else:
        code = ExitCode.RIGHT
    return {"statements": results, "verdict": code.name.lower().replace("_", " "),
            "exit_code": int(code)}


def _say(args: argparse.Namespace, line: str) -> None:
    if not args.json:
        print(line)


def _statement(
    statement: Any, target: Notation, args: argparse.Namespace, assume: dict[str, str],
    out_syntax: str,
) -> tuple[dict[str, Any], ExitCode | None]:
    formula: Formula = statement.formula
    result: dict[str, Any] = {"input": formula.text()}
    if statement.defines is not None and args.gradient is None:
        result["defines"] = statement.defines
        shown = formula.render(out_syntax)  # type: ignore[arg-type]
        _say(args, f"definition of {statement.defines}: {shown}")
        return result, None
    identified_from = None
    if args.gradient is not None:
        identified_from, formula = formula, gradient(formula, args.gradient)
    converted = formula.convert(target, layout=args.layout, wrt=args.wrt)
    rendered = converted.render(out_syntax)  # type: ignore[arg-type]
    result["converted"] = rendered
    _say(args, rendered)
    if not args.verify:
        return result, None
    verdicts: list[ExitCode] = []
    if identified_from is not None:
        identified = verify(identified_from, converted, seed=args.seed)
        result["identification"] = {"agree": identified.passed, "message": identified.message}
        _say(args, f"identification: {identified.message}")
        # The derivative is read off the differential statement: that it is the one the
        # statement identifies is the truth checked here.
        verdicts.append(ExitCode.RIGHT if identified.passed else ExitCode.WRONG)
    check = verify(formula, converted, seed=args.seed)
    result["conversion"] = {"agree": check.passed, "message": check.message}
    _say(args, f"conversion: {check.message}")
    if not check.passed:
        verdicts.append(ExitCode.WRONG)
    if args.symbols is not None and identified_from is None:
        truth = check_truth(formula, assume=assume, seed=args.seed)
        result["truth"] = {"verdict": truth.verdict, "diagnosis": truth.diagnosis,
                           "message": truth.message}
        _say(args, f"truth: {truth.message}")
        verdicts.append({"true": ExitCode.RIGHT, "false": ExitCode.WRONG}.get(
            truth.verdict, ExitCode.NOT_JUDGED))
    elif args.symbols is None:
        verdicts.extend(_oracle(formula, converted, args, result))
    if ExitCode.WRONG in verdicts:
        return result, ExitCode.WRONG
    if ExitCode.NOT_JUDGED in verdicts or ExitCode.RIGHT not in verdicts:
        return result, ExitCode.NOT_JUDGED
    return result, ExitCode.RIGHT


def _oracle(
    formula: Formula, converted: Formula, args: argparse.Namespace, result: dict[str, Any]
) -> list[ExitCode]:
    from rnn_oracle.notations import CELLS as NOTATION_CELLS
    from rnn_oracle.notations import check_against_oracle

    cell = args.cell or NOTATION_CELLS.get(formula.notation.name, "tanh")
    network: dict[str, str] = {k: getattr(args, k) or v for k, v in _NETWORK_DEFAULTS.items()}
    verdicts = []
    result["oracle"] = []
    for label, f in (("source", formula), ("converted", converted)):
        try:
            checked = check_against_oracle(
                f, t=args.step, seed=args.seed, cell=cell, head=network["head"],
                loss_sign=network["loss_sign"], reduction=network["reduction"])
        except NotJudgedError as exc:
            _say(args, f"oracle ({label}): not judged: {exc}")
            result["oracle"].append({"of": label, "verdict": "not judged",
                                     "message": str(exc)})
            verdicts.append(ExitCode.NOT_JUDGED)
            continue
        cross = f" (cross-checked: {checked.cross_check})" if checked.cross_check else ""
        _say(args, f"oracle ({label}): {checked.message}{cross}")
        result["oracle"].append({"of": label, "verdict": "true" if checked.passed else "false",
                                 "quantity": checked.quantity, "message": checked.message,
                                 "diagnosis": checked.diagnosis})
        verdicts.append(ExitCode.RIGHT if checked.passed else ExitCode.WRONG)
    return verdicts
