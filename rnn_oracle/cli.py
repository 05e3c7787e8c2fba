"""The ``rnn-oracle`` command line (also ``python -m rnn_oracle``).

Exit status, the same for every command (:class:`~rnn_oracle.errors.ExitCode`):

* ``0`` checked, and everything judged is right;
* ``1`` checked, and something is wrong;
* ``2`` usage or bad input: one line on stderr naming the option, no traceback;
* ``3`` nothing could be judged: an inconclusive report, a backend that was asked for is
  not installed or cannot be loaded, a check that does not apply — or an internal error
  (a bug in rnn-oracle: one line, and ``--traceback`` shows where);
* ``130`` interrupted (Ctrl-C).

With ``--json`` a failure also prints ``{"error": ..., "exit_code": ...}`` on stdout.
Shell completion: with ``argcomplete`` installed, ``eval "$(register-python-argcomplete
rnn-oracle)"``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from backends import BackendError, known_backends
from rnn_oracle import (
    _packages,  # noqa: F401  (first: conventions and backends are ours)
    check_cli,
    convert_cli,
)
from rnn_oracle.argtypes import Parser, UsageError, fail, non_negative, positive
from rnn_oracle.errors import ExitCode, OracleError
from rnn_oracle.spec import CELLS, HEADS, INPUT_KINDS, LOSS_SIGNS, REDUCTIONS, RNNSpec

if TYPE_CHECKING:
    from rnn_oracle._verify import VerifyReport
    from rnn_oracle.architectures.verify import ArchitecturesReport

#: The exit status of an interrupted run (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def version() -> str:
    """The installed distribution's version (the package's own when run from a source tree
    that is not installed)."""
    from importlib import metadata

    try:
        return metadata.version("rnn-oracle")
    except metadata.PackageNotFoundError:
        from rnn_oracle import __version__

        return __version__


def _parser() -> Parser:
    parser = Parser(
        prog="rnn-oracle",
        description="Check recurrent-network gradients against independent references.",
        epilog=(
            "Exit status: 0 checked and right, 1 checked and wrong, 2 usage or bad input, "
            "3 nothing could be judged."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument("--traceback", action="store_true",
                        help="on an internal error, show the full traceback")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verify = commands.add_parser(
        "verify",
        help="cross-check every derivation variant on every backend against complex step",
        description=(
            "Compute the gradients of random cases with every derivation variant on every "
            "installed backend and compare each with the NumPy complex-step baseline. "
            "Prints a matrix (rows: variants; columns: backends; cells: the worst normwise "
            "relative error over all arrays, ok or FAIL; a variant that cannot run on a "
            "backend says why). Exits 0 when everything compared agrees, 1 when something "
            "disagrees, 2 on a usage error, 3 when nothing was compared or a backend named "
            "with --backend is not installed or cannot be loaded."
        ),
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument("--detail", action="store_true",
                        help="also print every array's error for every variant and backend")
    verify.add_argument("-q", "--quiet", action="store_true",
                        help="no progress display on stderr")
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
    verify.add_argument("--batch", type=non_negative, default=2,
                        help="batch size; 0 for unbatched")
    verify.add_argument("--seed", type=non_negative, default=0, help="seed of the first case")
    verify.add_argument("--cases", type=positive, default=1, help="seeds per spec")
    verify.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    verify.add_argument("--method", action="append", dest="methods", metavar="METHOD",
                        help="only this method (repeatable)")
    backends = known_backends()
    verify.add_argument("--backend", action="append", dest="backends", choices=backends,
                        metavar="BACKEND",
                        help=f"only this backend (repeatable): {', '.join(backends)}")
    verify.add_argument(
        "--backends", nargs="+", dest="backend_list", metavar="BACKEND", choices=backends,
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
    verify.add_argument(
        "--no-compile-cache", action="store_true",
        help=(
            "do not keep JAX's compiled programs on disk between runs (by default they are "
            "kept in $JAX_COMPILATION_CACHE_DIR, else $XDG_CACHE_HOME/rnn-oracle/jax or "
            "~/.cache/rnn-oracle/jax, so a second run skips XLA's compiling)"
        ),
    )
    check_cli.add_parser(commands)
    convert_cli.add_parser(commands)
    return parser


def _methods(given: list[str] | None, known: Sequence[str], which: str) -> list[str] | None:
    """``--method`` values, each one of ``known`` (the two matrices have different ones)."""
    for method in given or ():
        if method not in known:
            raise OracleError(
                f"--method: unknown {method!r}; the methods {which}are {', '.join(known)}"
            )
    return given


def _requested_backends(args: argparse.Namespace) -> list[str] | None:
    named = [*(args.backends or []), *(args.backend_list or [])]
    return list(dict.fromkeys(named)) or None


def _verify(args: argparse.Namespace) -> int:
    if args.compile_cache and not args.no_compile_cache:
        keep_compiled_programs()
    if args.all_architectures:
        return _verify_architectures(args)
    from rnn_oracle._verify import default_specs, verify
    from rnn_oracle.derivations import METHODS
    from rnn_oracle.oracle.render import progress

    methods = _methods(args.methods, tuple(METHODS), "")
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
    with progress("verify", quiet=args.quiet) as update:
        report = verify(
            specs,
            seq_len=args.seq_len,
            batch=args.batch or None,
            seeds=range(args.seed, args.seed + args.cases),
            dtype=args.dtype,
            methods=methods,
            backends=_requested_backends(args),
            progress=update,
        )
    return _print_report(report, args)


#: The single-layer spec options and their defaults: not used with --all-architectures.
_SINGLE_LAYER = {
    "--cell": ("cell", None), "--head": ("head", None), "--loss-sign": ("loss_sign", "standard"),
    "--reduction": ("reduction", "sum"), "--inputs": ("inputs", "dense"),
    "--n-x": ("n_x", 3), "--n-h": ("n_h", 5), "--n-y": ("n_y", 3), "--seq-len": ("seq_len", 4),
    "--batch": ("batch", 2), "--dtype": ("dtype", "float64"),
}


def _verify_architectures(args: argparse.Namespace) -> int:
    from rnn_oracle.architectures.reference import NETWORK_METHODS
    from rnn_oracle.architectures.verify import verify_architectures
    from rnn_oracle.oracle.render import progress

    # The spec options choose one single-layer network; the architecture matrix has its
    # own spread of networks (rnn_oracle.architectures.verify.default_entries).
    given = [opt for opt, (dest, default) in _SINGLE_LAYER.items()
             if getattr(args, dest) != default]
    if given:
        raise OracleError(
            f"{given[0]}: not used with --all-architectures (it checks a fixed spread of "
            "small float64 networks; use --seed, --cases, --method, --backend(s), --json, "
            "--detail)"
        )
    methods = _methods(args.methods, tuple(NETWORK_METHODS), "of --all-architectures ")
    with progress("verify --all-architectures", quiet=args.quiet) as update:
        report = verify_architectures(
            seeds=range(args.seed, args.seed + args.cases),
            methods=methods,
            backends=_requested_backends(args),
            progress=update,
        )
    return _print_report(report, args)


#: Compiles shorter than this are not worth a file in the cache (JAX's default, 1 s, would
#: leave out most of verify's programs, which take 0.3-2 s).
MIN_CACHED_COMPILE_S = "0.1"


def keep_compiled_programs() -> None:
    """Turn on JAX's persistent compilation cache for this process, unless the user set it.

    Why: most of what ``verify`` costs on JAX is XLA compiling its programs, the same ones
    at every run; from the cache a warm run skips that (measured: the JAX column 3.6 → 1.6
    s). JAX reads these variables when it is first imported, so they are set before any
    backend loads — in this, the command's own process, never in a user's program.
    """
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(home, "rnn-oracle", "jax")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", MIN_CACHED_COMPILE_S)


def _print_report(report: VerifyReport | ArchitecturesReport, args: argparse.Namespace) -> int:
    """Print a verify report (a rich table, or JSON); returns its exit status."""
    from rnn_oracle.architectures.verify import ArchitecturesReport
    from rnn_oracle.oracle.render import emit, render_architectures, render_verify

    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    elif isinstance(report, ArchitecturesReport):
        emit(render_architectures(report, detail=args.detail))
    else:
        emit(render_verify(report, detail=args.detail))
    return int(report.exit_code)


def _complete(parser: argparse.ArgumentParser) -> None:
    """Shell completion through argcomplete, when it is installed and the shell asks."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "verify":
        return _verify(args)
    if args.command == "convert":
        return convert_cli.run(args)
    if args.command == "check":
        return check_cli.run(args)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse guards this


def run() -> None:
    """The ``rnn-oracle`` program (and ``python -m rnn_oracle``): :func:`main` in a process
    of its own, where ``verify`` may keep JAX's compiled programs on disk."""
    sys.exit(main(compile_cache=True))


def main(argv: Sequence[str] | None = None, *, compile_cache: bool = False) -> int:
    """Entry point; returns the exit status (see the module docstring). ``compile_cache``:
    ``verify`` turns on JAX's persistent compilation cache (:func:`keep_compiled_programs`),
    which changes this process's environment — for :func:`run` only."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in arguments
    parser = _parser()
    _complete(parser)
    try:
        args = parser.parse_args(arguments)
    except UsageError as exc:
        return fail(str(exc), ExitCode.USAGE, as_json)
    args.compile_cache = compile_cache
    prefix = f"rnn-oracle {args.command}"
    as_json = bool(getattr(args, "json", False))
    try:
        return _dispatch(args)
    except OracleError as exc:  # NotJudgedError included: its exit code is 3
        return fail(f"{prefix}: error: {exc}", exc.exit_code, as_json)
    except BackendError as exc:  # a framework that is missing or broken: nothing judged
        return fail(f"{prefix}: error: {exc}", ExitCode.NOT_JUDGED, as_json)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # `rnn-oracle verify | head`: the reader left; so do we
        _silence_stdout()
        return INTERRUPTED + 11  # 141, as a shell reports SIGPIPE
    except Exception as exc:  # anything else is a bug in rnn-oracle, not a verdict
        if args.traceback:
            raise
        return fail(
            f"{prefix}: internal error: {type(exc).__name__}: {exc} (a bug in rnn-oracle: "
            "nothing was judged; please report it with the output of the same command "
            "run as 'rnn-oracle --traceback ...')",
            ExitCode.NOT_JUDGED,
            as_json,
        )


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush does not fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    run()
