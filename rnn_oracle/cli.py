"""The ``rnn-oracle`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rnn_oracle import check_cli, convert_cli
from rnn_oracle.argtypes import positive
from rnn_oracle.errors import OracleError
from rnn_oracle.spec import CELLS, HEADS, INPUT_KINDS, LOSS_SIGNS, REDUCTIONS, RNNSpec

if TYPE_CHECKING:
    from rnn_oracle.architectures.verify import ArchitecturesReport
    from rnn_oracle.verify import VerifyReport


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnn-oracle",
        description="Check recurrent-network gradients against independent references.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser(
        "verify",
        help="cross-check every derivation variant on every backend against complex step",
        description=(
            "Compute the gradients of random cases with every derivation variant on every "
            "installed backend and compare each with the NumPy complex-step baseline. "
            "Prints a matrix (rows: variants; columns: backends; cells: the worst normwise "
            "relative error over all arrays, ok or FAIL; a variant that cannot run on a "
            "backend says why). Exits 0 when everything agrees, 1 otherwise."
        ),
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument("--detail", action="store_true",
                        help="also print every array's error for every variant and backend")
    verify.add_argument("--cell", choices=CELLS, help="one cell instead of the default spread")
    verify.add_argument("--head", choices=HEADS, help="with --cell: the head")
    verify.add_argument("--loss-sign", choices=LOSS_SIGNS, default="standard")
    verify.add_argument("--reduction", choices=REDUCTIONS, default="sum",
                        help="over time and batch")
    verify.add_argument("--inputs", choices=INPUT_KINDS, default="dense")
    verify.add_argument("--n-x", type=positive, default=3)
    verify.add_argument("--n-h", type=positive, default=5)
    verify.add_argument("--n-y", type=positive, default=3)
    verify.add_argument("--seq-len", type=positive, default=4, help="time steps T")
    verify.add_argument("--batch", type=int, default=2, help="batch size; 0 for unbatched")
    verify.add_argument("--seed", type=int, default=0, help="seed of the first case")
    verify.add_argument("--cases", type=positive, default=1, help="seeds per spec")
    verify.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    verify.add_argument("--method", action="append", dest="methods",
                        help="only this method (repeatable)")
    verify.add_argument("--backend", action="append", dest="backends",
                        help="only this backend (repeatable)")
    verify.add_argument(
        "--backends", nargs="+", dest="backend_list", metavar="BACKEND",
        help="only these backends (like repeating --backend)",
    )
    verify.add_argument(
        "--all-architectures", action="store_true",
        help=(
            "the matrix over architectures and cells instead: many_to_many, many_to_one, "
            "one_to_many (each feedback), encoder_decoder, stacked, bidirectional, "
            "deep_bidirectional, each with a vanilla cell, a GRU and an LSTM; every network "
            "method on every backend against NumPy complex step (float64)"
        ),
    )
    check_cli.add_parser(commands)
    convert_cli.add_parser(commands)
    return parser


def _verify(args: argparse.Namespace) -> int:
    from rnn_oracle.verify import default_specs, verify

    if args.backend_list:
        args.backends = [*(args.backends or []), *args.backend_list]
    if args.all_architectures:
        return _verify_architectures(args)
    if args.batch < 0:
        raise OracleError(f"--batch: expected 0 (unbatched) or a positive size, got {args.batch}")
    if args.seed < 0:
        raise OracleError(f"--seed: expected a non-negative integer, got {args.seed}")
    if args.cell is not None:
        specs = [
            RNNSpec(
                cell=args.cell,
                head=args.head or "softmax_ce",
                n_x=args.n_x,
                n_h=args.n_h,
                n_y=args.n_y,
                loss_sign=args.loss_sign,
                time_reduction=args.reduction,
                batch_reduction=args.reduction,
                inputs=args.inputs,
            )
        ]
    else:
        if args.head is not None:
            raise OracleError("--head: give --cell too, or neither for the default spread")
        specs = default_specs(args.n_x, args.n_h, args.n_y)
    report = verify(
        specs,
        seq_len=args.seq_len,
        batch=args.batch or None,
        seeds=range(args.seed, args.seed + args.cases),
        dtype=args.dtype,
        methods=args.methods,
        backends=args.backends,
    )
    return _print_report(report, args)


def _verify_architectures(args: argparse.Namespace) -> int:
    from rnn_oracle.architectures.verify import verify_architectures

    # The spec options choose one single-layer network; the architecture matrix has its
    # own spread of networks (rnn_oracle.architectures.verify.default_entries).
    single = {
        "--cell": args.cell is not None, "--head": args.head is not None,
        "--loss-sign": args.loss_sign != "standard", "--reduction": args.reduction != "sum",
        "--inputs": args.inputs != "dense", "--n-x": args.n_x != 3, "--n-h": args.n_h != 5,
        "--n-y": args.n_y != 3, "--seq-len": args.seq_len != 4, "--batch": args.batch != 2,
        "--dtype": args.dtype != "float64",
    }
    given = [name for name, changed in single.items() if changed]
    if given:
        raise OracleError(
            f"{given[0]}: not used with --all-architectures (it checks a fixed spread of "
            "small float64 networks; use --seed, --cases, --method, --backend(s), --json, "
            "--detail)"
        )
    if args.seed < 0:
        raise OracleError(f"--seed: expected a non-negative integer, got {args.seed}")
    report = verify_architectures(
        seeds=range(args.seed, args.seed + args.cases),
        methods=args.methods,
        backends=args.backends,
    )
    return _print_report(report, args)


def _print_report(report: VerifyReport | ArchitecturesReport, args: argparse.Namespace) -> int:
    """Print a verify report (table or JSON); exit status 0 when everything agrees."""
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.format_table(detail=args.detail))
    return 0 if report.passed else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 agree, 1 disagree, 2 usage error)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "verify":
            return _verify(args)
        if args.command == "convert":
            return convert_cli.run(args)
        if args.command == "check":
            return check_cli.run(args)
    except OracleError as exc:
        print(f"rnn-oracle: error: {exc}", file=sys.stderr)
        return 2
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse guards this


if __name__ == "__main__":
    sys.exit(main())
