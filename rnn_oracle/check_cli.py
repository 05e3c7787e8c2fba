"""``rnn-oracle check FILE.py:NAME --convention CONV``: check the gradients of a function,
torch module or Flax cell defined in a Python file.

Exit status: 0 every gradient agrees; 1 some gradient is wrong; 2 usage, import or
protocol error (the message says which).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from rnn_oracle.argtypes import non_negative, positive
from rnn_oracle.errors import OracleError
from rnn_oracle.spec import CELLS, HEADS, LOSS_SIGNS, REDUCTIONS

_SPEC_OPTIONS = ("cell", "head", "n_x", "n_h", "n_y", "loss_sign", "time_reduction",
                 "batch_reduction")






def add_parser(subparsers: Any) -> None:
    """Add the ``check`` subcommand to an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "check",
        help="check the gradients of your function, torch module or Flax cell",
        description=(
            "Import FILE.py, take NAME from it, run it on random cases and compare its "
            "gradients with the float64 reference. Model mode calls NAME(params, inputs, "
            "targets, h0) -> (loss, grads); layer mode calls NAME(params, inputs, h0, "
            "upstream) -> grads (with 'inputs' and 'h0'). A torch module with nn.RNN's "
            "parameter names or a flax.linen.SimpleCell runs in layer mode. Exit status: "
            "0 all agree, 1 some gradient is wrong, 2 usage, import or protocol error."
        ),
    )
    parser.add_argument("target", metavar="FILE.py:NAME", help="where the target is defined")
    parser.add_argument("--convention", help="a preset (karpathy, cs231n, torch, …) or a JSON "
                        "mapping such as '{\"Wx\": \"W_xh.T\", …}'; not for modules")
    parser.add_argument("--mode", choices=("model", "layer"), default=None,
                        help="calling protocol (default: model for functions)")
    parser.add_argument("--cases", type=positive, default=3, help="random cases (default 3)")
    parser.add_argument("--seed", type=non_negative, default=0, help="seed of the first case")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--seq-len", type=positive, default=None, help="fixed T for every case")
    parser.add_argument("--batch", type=non_negative, default=None,
                        help="batch size; 0 for unbatched (default: by convention)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="write the error plot (matplotlib)")
    spec = parser.add_argument_group("network (default: the convention's)")
    spec.add_argument("--cell", choices=CELLS)
    spec.add_argument("--head", choices=[h for h in HEADS if h != "none"])
    spec.add_argument("--n-x", type=positive)
    spec.add_argument("--n-h", type=positive)
    spec.add_argument("--n-y", type=positive)
    spec.add_argument("--loss-sign", choices=LOSS_SIGNS)
    spec.add_argument("--time-reduction", choices=REDUCTIONS)
    spec.add_argument("--batch-reduction", choices=REDUCTIONS)


def load_target(where: str) -> Any:
    """``FILE.py:NAME`` -> the object, imported with importlib from the file's path."""
    path_text, sep, name = where.rpartition(":")
    if not sep or not path_text or not name:
        raise OracleError(f"target: expected FILE.py:NAME, got {where!r}")
    path = Path(path_text)
    if path.suffix != ".py":
        raise OracleError(f"target: expected a .py file, got {path_text!r}")
    if not path.is_file():
        raise OracleError(f"target: no such file {path_text!r}")
    module_name = f"rnn_oracle_user_{abs(hash(str(path.resolve())))}_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise OracleError(f"target: cannot import {path_text!r}")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # so the file can import its neighbours
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise OracleError(
            f"target: importing {path_text!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            found = sorted(n for n in vars(module) if not n.startswith("_"))
            raise OracleError(f"target: {path_text!r} has no {name!r}; it defines {found}")
        obj = getattr(obj, part)
    if isinstance(obj, type):
        raise OracleError(
            f"target: {name!r} is a class; define an instance (a module or cell) or a function"
        )
    return obj


def _convention(text: str | None) -> Any:
    if text is None or not text.lstrip().startswith("{"):
        return text
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OracleError(f"--convention: not a preset name nor valid JSON ({exc})") from exc
    if not isinstance(mapping, dict):
        raise OracleError("--convention: a JSON convention must be an object of name -> mapping")
    return mapping


def run(args: argparse.Namespace) -> int:
    """Run the ``check`` subcommand; returns the exit status."""
    try:
        return _run(args)
    except OracleError as exc:
        print(f"rnn-oracle check: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from rnn_oracle.oracle.check import check_gradients
    from rnn_oracle.oracle.network_targets import is_network_module
    from rnn_oracle.oracle.targets import as_target

    loaded = load_target(args.target)
    fields = {k: getattr(args, k) for k in _SPEC_OPTIONS if getattr(args, k) is not None}
    batch: Any = "auto" if args.batch is None else (args.batch or None)
    target: Any
    if is_network_module(loaded):
        # torch GRU/LSTM/multi-layer or bidirectional RNN, Flax GRU/LSTM cells: the module
        # gives its own sizes and cell; the network oracle checks it in layer mode.
        if fields or args.convention is not None:
            given = [f"--{k.replace('_', '-')}" for k in fields]
            if args.convention is not None:
                given.append("--convention")
            raise OracleError(
                f"{', '.join(given)}: a {type(loaded).__name__} module gives its own cell, "
                "sizes and names; leave these options out"
            )
        target, spec = loaded, None
    else:
        target = as_target(loaded, convention=_convention(args.convention), mode=args.mode)
        spec = target.resolve_spec(None).replace(**fields) if fields else None
    report = check_gradients(
        target,
        spec=spec,
        cases=args.cases,
        seed=args.seed,
        dtype=args.dtype,
        seq_len=args.seq_len,
        batch=batch,
    )
    if args.json:
        print(report.to_json())
    else:
        report.print()
    if args.plot:
        try:
            report.plot(args.plot)
        except ImportError as exc:
            raise OracleError(f"--plot needs matplotlib ({exc})") from exc
    return 0 if report.passed else 1
