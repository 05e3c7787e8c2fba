"""``rnn-oracle check FILE.py:NAME --convention CONV``: check the gradients of a function,
torch module or Flax cell defined in a Python file.

Exit status (:class:`~rnn_oracle.errors.ExitCode`): 0 every gradient was judged and is
right; 1 some gradient is wrong; 2 usage, import or protocol error (one line naming the
option or file); 3 nothing could be judged (an inconclusive report, a framework that is
missing or broken).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from rnn_oracle._convention_file import (
    ConventionTable,
    convention_table,
    names_mapping,
    read_convention_file,
    read_inline_json,
)
from rnn_oracle.argtypes import fail, non_negative, positive, tolerance
from rnn_oracle.errors import NotJudgedError, OracleError
from rnn_oracle.spec import HEADS, INITIAL_STATES, INPUT_KINDS, LOSS_SIGNS, REDUCTIONS

#: The network flags, by field name (RNNSpec's and NetworkSpec's).
_SPEC_OPTIONS = ("architecture", "cell", "head", "n_x", "n_h", "n_y", "n_layers",
                 "loss_sign", "time_reduction", "batch_reduction", "inputs", "feedback",
                 "initial_state")
#: The convention flags, by ParamConvention field (``inputs`` is a network flag as well).
_CONVENTION_OPTIONS = ("vectors", "sequence_layout", "bias_shape", "state_shape", "absent")
#: What a torch module or Flax cell lets a spec say (it gives the rest itself; layer mode).
_MODULE_FIELDS = ("architecture", "cell", "n_x", "n_h", "n_layers", "initial_state")
#: What layer mode fixes for a network function (no head: the upstream gradient is given).
_LAYER_MODE_FIELDS = ("head", "n_y", "loss_sign", "time_reduction", "batch_reduction")
#: What only a NetworkSpec has: a function given any of these is checked as a network.
_NETWORK_ONLY = ("n_layers", "feedback")

#: The file types matplotlib writes, by suffix (checked before the run, without importing it).
PLOT_SUFFIXES = (".eps", ".jpeg", ".jpg", ".pdf", ".pgf", ".png", ".ps", ".raw", ".rgba",
                 ".svg", ".svgz", ".tif", ".tiff", ".webp")


def initial_state_arg(text: str) -> str | dict[str, str]:
    """``--initial-state``: one kind for every state (``zero``) or per state
    (``h=given,c=zero``); the kinds themselves are judged by the spec."""
    if "=" not in text:
        return text
    kinds: dict[str, str] = {}
    for part in text.split(","):
        state, sep, kind = (p.strip() for p in part.partition("="))
        if not sep or not state or not kind or state in kinds:
            raise argparse.ArgumentTypeError(
                f"expected a kind (given, zero, fixed, learned) or STATE=KIND pairs such as "
                f"h=given,c=zero, got {text!r}"
            )
        kinds[state] = kind
    return kinds


def absent_arg(text: str) -> tuple[str, ...]:
    """``--absent b_h,b_y``: canonical parameters the convention does not have."""
    names = tuple(n.strip() for n in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected canonical names such as b_h,b_y, got {text!r}")
    return names


def add_parser(subparsers: Any) -> None:
    """Add the ``check`` subcommand to an ``argparse`` subparsers object."""
    from rnn_oracle.architectures.spec import ARCHITECTURES, FEEDBACKS, NETWORK_CELLS

    parser = subparsers.add_parser(
        "check",
        help="check the gradients of your function, torch module or Flax cell",
        description=(
            "Import FILE.py, take NAME from it, run it on random cases and compare its "
            "gradients with the float64 reference. Model mode calls NAME(params, inputs, "
            "targets, h0) -> (loss, grads); layer mode calls NAME(params, inputs, h0, "
            "upstream) -> grads (with 'inputs' and 'h0'). With --architecture a function is "
            "a network in canonical names, fn(params, inputs, initial_states, upstream) -> "
            "grads. A torch module (nn.RNN/GRU/LSTM or one with names of its own, --names) "
            "or a Flax cell runs in layer mode. Exit status: 0 all judged and right, 1 some "
            "gradient is wrong, 2 usage, import or protocol error, 3 nothing could be judged "
            "(inconclusive, or a framework missing or broken)."
        ),
    )
    parser.add_argument("target", metavar="FILE.py:NAME", help="where the target is defined")
    conv = parser.add_argument_group("convention (a function's names and data layout)")
    conv.add_argument(
        "--convention",
        help="a preset (karpathy, cs231n, torch, …) or inline JSON: a mapping of your names "
        "to canonical ones such as '{\"Wx\": \"W_xh.T\", …}', or a table with 'params' "
        "and the other convention fields; a .toml/.json path is read as --convention-file",
    )
    conv.add_argument(
        "--convention-file", metavar="FILE.toml",
        help="a TOML or JSON file: params (your names -> canonical), name, vectors, "
        "sequence_layout, inputs, bias_shape, state_shape, absent, description, and an "
        "optional spec table (cell, n_h, architecture, initial_state, …)",
    )
    conv.add_argument("--vectors", choices=("row", "column"),
                      help="h = x W (row) or h = W x (column); sets the default batch")
    conv.add_argument("--sequence-layout", choices=("time_major", "batch_major"),
                      help="batched sequences as (T, B, n) or (B, T, n); required for a "
                      "custom convention whose cases are batched")
    conv.add_argument("--bias-shape", choices=("flat", "column", "row"),
                      help="biases as (n,), (n, 1) or (1, n)")
    conv.add_argument("--state-shape", choices=("flat", "column", "layered"),
                      help="h0 as (n,)/(B, n), (n, 1) or (1, [B,] n)")
    conv.add_argument("--absent", type=absent_arg, metavar="NAME[,NAME]",
                      help="canonical parameters the code does not have (zero)")
    conv.add_argument(
        "--names", metavar="JSON|FILE",
        help="a torch module's own parameter names -> torch's (weight_hh_l0) or canonical "
        "ones (layer0.forward.W_hh), inline JSON or a .json/.toml file; inferred when the "
        "shapes decide",
    )
    parser.add_argument("--mode", choices=("model", "layer"), default=None,
                        help="calling protocol (default: model for functions)")
    parser.add_argument("--cases", type=positive, default=3, help="random cases (default 3)")
    parser.add_argument("--seed", type=non_negative, default=0, help="seed of the first case")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--seq-len", type=positive, default=None, help="fixed T for every case")
    parser.add_argument("--scale", type=tolerance, default=None,
                        help="fixed weight scale for every case (default: a schedule around 1)")
    parser.add_argument("--max-cases", type=positive, default=None,
                        help="cases that may be drawn in all, replacements for inconclusive "
                             "ones included (default 4 × --cases)")
    parser.add_argument("--batch", type=non_negative, default=None,
                        help="batch size; 0 for unbatched (default: by convention)")
    parser.add_argument("--atol", type=tolerance, default=None,
                        help="absolute tolerance instead of the oracle's bound (recorded in "
                        "the report)")
    parser.add_argument("--rtol", type=tolerance, default=None,
                        help="relative tolerance instead of the oracle's (recorded in the "
                        "report)")
    parser.add_argument("--strict-dtype", action="store_true",
                        help="refuse float64 gradients for a float32 case (default: accepted, "
                        "with a note)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="write the error plot (matplotlib; png, pdf, svg, …)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress display on stderr")
    spec = parser.add_argument_group(
        "network (default: the convention's; a module's own; may also come from the "
        "convention file's spec table)")
    spec.add_argument("--architecture", choices=ARCHITECTURES,
                      help="check a function as this network, in canonical names (layer mode)")
    spec.add_argument("--cell", choices=NETWORK_CELLS,
                      help="the nonlinearity or gated cell (gru, lstm need --architecture)")
    spec.add_argument("--head", choices=[h for h in HEADS if h != "none"])
    spec.add_argument("--n-x", type=positive)
    spec.add_argument("--n-h", type=positive)
    spec.add_argument("--n-y", type=positive)
    spec.add_argument("--n-layers", type=positive, help="layers of a stacked network")
    spec.add_argument("--loss-sign", choices=LOSS_SIGNS)
    spec.add_argument("--time-reduction", choices=REDUCTIONS)
    spec.add_argument("--batch-reduction", choices=REDUCTIONS)
    spec.add_argument("--inputs", choices=INPUT_KINDS,
                      help="how inputs come: dense vectors, one-hot or class indices")
    spec.add_argument("--feedback", choices=FEEDBACKS,
                      help="one_to_many: what later steps read")
    spec.add_argument("--initial-state", type=initial_state_arg, metavar="KIND|STATE=KIND,…",
                      help="how initial states enter the code: given, zero, fixed or learned "
                      "(the last two with --architecture), for every state or per state "
                      "such as h=given,c=zero")


def load_target(where: str) -> Any:
    """``FILE.py:NAME`` -> the object, imported with importlib from the file's path.

    Whatever the import raises — ``SystemExit`` and ``KeyboardInterrupt`` included (a script
    that calls ``sys.exit`` at import) — becomes an :class:`OracleError` naming the file.
    """
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
    except SystemExit as exc:
        sys.modules.pop(module_name, None)
        raise OracleError(
            f"target: importing {path_text!r} called sys.exit({exc.code!r}); put the "
            "file's script part under 'if __name__ == \"__main__\":'"
        ) from None
    except KeyboardInterrupt:
        sys.modules.pop(module_name, None)
        raise OracleError(f"target: importing {path_text!r} raised KeyboardInterrupt") from None
    except Exception as exc:
        sys.modules.pop(module_name, None)
        message = f"target: importing {path_text!r} raised {type(exc).__name__}: {exc}"
        framework = _failing_framework(exc)
        if framework is not None:
            # The file needs a framework that is missing or broken: nothing can be judged.
            raise NotJudgedError(f"{message} ({framework} is missing or broken)") from exc
        raise OracleError(message) from exc
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


#: The frameworks whose absence or breakage means "not judged" rather than "bad file".
FRAMEWORKS = ("torch", "jax", "jaxlib", "flax")


def _failing_framework(exc: BaseException) -> str | None:
    """The framework an import error comes from: the module that was not found, or the
    framework package whose own code raised (a broken install)."""
    if isinstance(exc, ImportError) and exc.name and exc.name.split(".")[0] in FRAMEWORKS:
        return exc.name.split(".")[0]
    if not isinstance(exc, ImportError):
        return None
    tb = exc.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0]
        if module in FRAMEWORKS:
            return module
        tb = tb.tb_next
    return None


def check_plot_path(text: str) -> Path:
    """``--plot``: refuse, before anything runs, a file type matplotlib does not write, a
    missing matplotlib and a path that cannot be written."""
    path = Path(text)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise OracleError(
            f"--plot: expected a file ending in {', '.join(PLOT_SUFFIXES)}, got {text!r}"
        )
    if path.is_dir():
        raise OracleError(f"--plot: {text!r} is a directory; give a file name")
    folder = path.parent
    if not folder.is_dir():
        raise OracleError(f"--plot: cannot write {text!r}: no directory {str(folder)!r}")
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise OracleError(f"--plot: cannot write {text!r}: {exc.strerror or exc}") from None
    if not existed:
        os.remove(path)
    # After the path, so that a bad path is named whether or not matplotlib is installed.
    if importlib.util.find_spec("matplotlib") is None:
        raise OracleError("--plot: needs matplotlib (pip install 'rnn-oracle[plot]')")
    return path


def run(args: argparse.Namespace) -> int:
    """Run the ``check`` subcommand; returns the exit status. An error is one line on
    stderr (and a JSON error object with ``--json``)."""
    try:
        return _run(args)
    except OracleError as exc:
        return fail(f"rnn-oracle check: error: {exc}", exc.exit_code, args.json)


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _convention_source(args: argparse.Namespace) -> str | ConventionTable | None:
    """``--convention`` and ``--convention-file``: a preset name, a table, or nothing."""
    text, path = args.convention, args.convention_file
    if text is not None and path is not None:
        raise OracleError("--convention, --convention-file: give one of them, not both")
    if path is None and text is not None and text.strip().endswith((".toml", ".json")):
        path = text.strip()
    if path is not None:
        option = "--convention-file" if args.convention_file is not None else "--convention"
        return read_convention_file(Path(path), option)
    if text is None:
        return None
    if text.strip().startswith("{"):
        return convention_table(read_inline_json(text.strip(), "--convention"), "--convention")
    return text


def _names(text: str | None) -> dict[str, str] | None:
    """``--names``: inline JSON or a .json/.toml file holding a flat mapping."""
    if text is None:
        return None
    if text.strip().endswith((".toml", ".json")):
        table = read_convention_file(Path(text.strip()), "--names")
        return table.convention["params"]
    return names_mapping(read_inline_json(text, "--names"), "--names")


def _merge(args: argparse.Namespace, options: tuple[str, ...], given: dict[str, Any],
           where: str) -> dict[str, Any]:
    """The flags' values over a table's: a field given in both must agree (no silent
    precedence)."""
    out = dict(given)
    for field in options:
        value = getattr(args, field)
        if value is None:
            continue
        if field in out and out[field] != value:
            raise OracleError(
                f"{_flag(field)} {value!r} contradicts {where}: {field} = {out[field]!r}; "
                "give it once"
            )
        out[field] = value
    return out


def _refuse(fields: Any, why: str) -> None:
    if fields:
        flags = ", ".join(_flag(f) for f in fields)
        raise OracleError(f"{flags}: {why}; leave it out")


def _run(args: argparse.Namespace) -> int:
    from rnn_oracle.architectures.frameworks import framework_of
    from rnn_oracle.oracle.check import check_gradients
    from rnn_oracle.oracle.render import emit, progress

    plot = None if args.plot is None else check_plot_path(args.plot)
    source = _convention_source(args)
    names = _names(args.names)
    table = source if isinstance(source, ConventionTable) else None
    where = "" if table is None else table.where
    spec_fields = _merge(args, _SPEC_OPTIONS, {} if table is None else table.spec,
                         f"{where}: spec")
    conv_flags = [f for f in _CONVENTION_OPTIONS if getattr(args, f) is not None]
    loaded = load_target(args.target)
    batch: Any = "auto" if args.batch is None else (args.batch or None)
    target: Any
    if framework_of(loaded) is not None:
        if source is not None:
            raise OracleError(
                f"{'--convention-file' if args.convention_file else '--convention'}: a "
                f"{type(loaded).__name__} module gives its own names (--names maps them); "
                "leave it out"
            )
        _refuse(conv_flags, "a module gives its own data layout")
        target = loaded
        spec = _module_spec(loaded, spec_fields, names)
        options: dict[str, Any] = {} if names is None else {"names": names}
    elif "architecture" in spec_fields:
        target, spec, options = loaded, _network_function_spec(args, source, conv_flags,
                                                               spec_fields, names), {}
    else:
        target, spec = _single_layer(args, loaded, source, spec_fields, batch, names)
        options = {}
    name = args.target.rpartition(":")[2]
    with progress(f"checking {name} on {args.cases} case(s)", quiet=args.quiet):
        try:
            report = check_gradients(
                target,
                spec=spec,
                mode=args.mode,  # a module refuses model mode
                cases=args.cases,
                seed=args.seed,
                dtype=args.dtype,
                seq_len=args.seq_len,
                batch=batch,
                scale=args.scale,
                max_cases=args.max_cases,
                atol=args.atol,
                rtol=args.rtol,
                strict_dtype=args.strict_dtype,
                **options,
            )
        except SystemExit as exc:
            raise OracleError(
                f"target: {name} called sys.exit({exc.code!r}) during the check"
            ) from None
    if args.json:
        print(report.to_json())
    else:
        emit(report)
    if plot is not None:
        try:
            report.plot(str(plot))
        except (ImportError, OSError, ValueError) as exc:
            raise OracleError(f"--plot: cannot write {args.plot!r}: {exc}") from exc
    return int(report.exit_code)


__all__ = ["add_parser", "check_plot_path", "load_target", "run"]


def _module_spec(module: Any, fields: dict[str, Any], names: dict[str, str] | None) -> Any:
    """A module's own spec with the fields given (it must agree with them), or ``None``."""
    _refuse([f for f in fields if f not in _MODULE_FIELDS],
            "a module is checked in layer mode and gives its own head and inputs")
    if not fields:
        return None
    from rnn_oracle.architectures.frameworks import flax_layout, framework_of, torch_layout

    if framework_of(module) == "torch":
        layout = torch_layout(module, names)
        if not layout.cell_stated and "cell" not in fields:
            raise OracleError(
                f"--cell: {layout.class_name}.nonlinearity is not set, so its cell is "
                "unknown; give --cell tanh or --cell relu"
            )
        own, free = layout.spec, () if layout.cell_stated else ("cell",)
    else:
        own, free = flax_layout(module).spec(fields.get("n_x", 3)), ("n_x",)
    spec = own.replace(**fields)
    for field in ("architecture", "cell", "n_x", "n_h", "n_layers"):
        if field in fields and field not in free and getattr(spec, field) != getattr(own, field):
            raise OracleError(
                f"{_flag(field)} {fields[field]!r}: the {type(module).__name__} module has "
                f"{field} = {getattr(own, field)!r}; leave it out or give the module's"
            )
    return spec


def _network_function_spec(args: argparse.Namespace, source: Any, conv_flags: list[str],
                           fields: dict[str, Any], names: Any) -> Any:
    """``--architecture``: a function in canonical names, checked as a network."""
    from rnn_oracle.architectures.spec import NetworkSpec

    if source is not None and (not isinstance(source, ConventionTable) or source.convention):
        raise OracleError(
            "--convention: a network function takes canonical names (layer0.forward.W_hh, "
            "…, inputs, layer0.forward.h0); leave the convention out (a convention file "
            "may hold just a spec table)"
        )
    _refuse(conv_flags, "a network function's layout is the canonical one")
    if names is not None:
        raise OracleError("--names: maps a torch module's own names; a network function's "
                          "are canonical")
    if args.mode == "model":
        raise OracleError("--mode: a network function is checked in layer mode, got 'model'")
    _refuse([f for f in fields if f in (*_LAYER_MODE_FIELDS, "inputs")],
            "a network function is checked in layer mode: no head, the upstream gradient "
            "∂J/∂out is given, inputs are dense")
    if "cell" not in fields:
        raise OracleError(
            "--cell: a network's cell changes every gradient; give it (tanh, sigmoid, relu, "
            "identity, gru, lstm)"
        )
    return NetworkSpec(**fields)


def _single_layer(args: argparse.Namespace, loaded: Any, source: Any,
                  fields: dict[str, Any], batch: Any, names: Any) -> tuple[Any, Any]:
    """A function in a named convention (a preset or the user's own) on one vanilla layer."""
    from rnn_oracle.oracle.targets import as_target
    from rnn_oracle.params import ParamConvention

    if names is not None:
        raise OracleError("--names: maps a torch module's own names; a function's names "
                          "are given by --convention")
    network_only = [f for f in _NETWORK_ONLY if f in fields]
    if fields.get("cell") in ("gru", "lstm"):
        network_only.insert(0, "cell")
    state = fields.get("initial_state")
    if state is not None and (not isinstance(state, str) or state not in INITIAL_STATES):
        network_only.append("initial_state")
    if network_only:
        flags = ", ".join(_flag(f) for f in network_only)
        raise OracleError(
            f"{flags}: {', '.join(repr(fields[f]) for f in network_only)} needs a network: "
            "add --architecture (many_to_many for one layer) and write the function in "
            "canonical names, fn(params, inputs, initial_states, upstream) -> grads"
        )
    convention: Any = source
    if isinstance(source, ConventionTable):
        if not source.convention:
            raise OracleError(f"{source.where}: has no params; a function in a convention "
                              "needs its names (or give --architecture for canonical names)")
        values = _merge(args, (*_CONVENTION_OPTIONS, "inputs"), source.convention,
                        source.where)
        values.setdefault("name", "custom")
        try:
            convention = ParamConvention(**values)
        except OracleError as exc:
            raise OracleError(f"{source.where}: {exc}") from None
        _ask_what_changes_the_answer(source, convention, fields, batch, args)
    else:
        given = [f for f in _CONVENTION_OPTIONS if getattr(args, f) is not None]
        if given and source is not None:
            _refuse(given, f"preset {source!r} fixes it (write your own convention to "
                           "change it)")
        _refuse(given, "it belongs to a convention; give --convention")
    target = as_target(loaded, convention=convention, mode=args.mode)
    spec = target.resolve_spec(None).replace(**fields) if fields else None
    return target, spec


def _ask_what_changes_the_answer(source: ConventionTable, convention: Any,
                                 fields: dict[str, Any], batch: Any,
                                 args: argparse.Namespace) -> None:
    """A preset says its cell and layout; the user's own convention must say them where
    they change the answer (no default is assumed for them)."""
    if "cell" not in fields:
        raise OracleError(
            f"--cell: {source.where} is your own convention, which does not say the "
            "nonlinearity; give --cell (tanh, sigmoid, relu, identity) or spec.cell in a "
            "convention file"
        )
    batched = (convention.vectors == "row") if batch == "auto" else batch is not None
    stated = "sequence_layout" in source.convention or args.sequence_layout is not None
    if batched and convention.state_shape != "column" and not stated:
        size = "3 sequences by default for row vectors" if batch == "auto" else f"{batch}"
        raise OracleError(
            f"--sequence-layout: the cases are batched ({size}), so the order of the time "
            "and batch axes matters; give --sequence-layout time_major or batch_major (or "
            "sequence_layout in the convention file), or --batch 0"
        )
