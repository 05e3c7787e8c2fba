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
import json
import os
import sys
from pathlib import Path
from typing import Any

from rnn_oracle.argtypes import fail, non_negative, positive, tolerance
from rnn_oracle.errors import NotJudgedError, OracleError
from rnn_oracle.spec import CELLS, HEADS, INITIAL_STATES, INPUT_KINDS, LOSS_SIGNS, REDUCTIONS

_SPEC_OPTIONS = ("cell", "head", "n_x", "n_h", "n_y", "loss_sign", "time_reduction",
                 "batch_reduction", "inputs", "initial_state")

#: The file types matplotlib writes, by suffix (checked before the run, without importing it).
PLOT_SUFFIXES = (".eps", ".jpeg", ".jpg", ".pdf", ".pgf", ".png", ".ps", ".raw", ".rgba",
                 ".svg", ".svgz", ".tif", ".tiff", ".webp")

#: The fields of a convention file besides ``params`` (see :class:`~rnn_oracle.ParamConvention`).
_CONVENTION_FIELDS = ("name", "vectors", "sequence_layout", "inputs", "bias_shape",
                      "state_shape", "absent", "description")


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
            "0 all judged and right, 1 some gradient is wrong, 2 usage, import or protocol "
            "error, 3 nothing could be judged (inconclusive, or a framework missing or broken)."
        ),
    )
    parser.add_argument("target", metavar="FILE.py:NAME", help="where the target is defined")
    parser.add_argument(
        "--convention",
        help="a preset (karpathy, cs231n, torch, …), a JSON mapping such as "
        "'{\"Wx\": \"W_xh.T\", …}', or a .json/.toml file holding such a mapping or a table "
        "with 'params' and the ParamConvention fields (vectors, inputs, …); not for modules",
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
    spec = parser.add_argument_group("network (default: the convention's)")
    spec.add_argument("--cell", choices=CELLS)
    spec.add_argument("--head", choices=[h for h in HEADS if h != "none"])
    spec.add_argument("--n-x", type=positive)
    spec.add_argument("--n-h", type=positive)
    spec.add_argument("--n-y", type=positive)
    spec.add_argument("--loss-sign", choices=LOSS_SIGNS)
    spec.add_argument("--time-reduction", choices=REDUCTIONS)
    spec.add_argument("--batch-reduction", choices=REDUCTIONS)
    spec.add_argument("--inputs", choices=INPUT_KINDS,
                      help="how inputs come: dense vectors, one-hot or class indices")
    spec.add_argument("--initial-state", choices=INITIAL_STATES,
                      help="h0 = 0 (zero) or a random h0 (given)")


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


def convention_from(text: str | None) -> Any:
    """``--convention``: a preset name (returned as is), inline JSON, or a ``.json`` or
    ``.toml`` file."""
    if text is None:
        return None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise OracleError(f"--convention: not a preset name nor valid JSON ({exc})") from exc
        return _convention_data(data, "--convention")
    if stripped.endswith((".json", ".toml")):
        return _convention_data(_read_convention_file(Path(stripped)), f"--convention {text}")
    return text


def _read_convention_file(path: Path) -> Any:
    where = f"--convention {str(path)!r}"
    if not path.is_file():
        raise OracleError(f"{where}: no such file")
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OracleError(f"{where}: cannot be read ({exc})") from exc
    if path.suffix == ".json":
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise OracleError(f"{where}: not valid JSON ({exc})") from exc
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise OracleError(f"{where}: TOML needs Python 3.11 or newer; use JSON") from None
    try:
        return tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise OracleError(f"{where}: not valid TOML ({exc})") from exc


def _convention_data(data: Any, where: str) -> Any:
    """A flat ``{user name: canonical}`` mapping, or a table with ``params`` and the other
    :class:`~rnn_oracle.ParamConvention` fields."""
    if not isinstance(data, dict):
        raise OracleError(
            f"{where}: expected an object of name -> mapping, got {type(data).__name__}"
        )
    if "params" not in data:
        return data
    from rnn_oracle.params import ParamConvention

    unknown = sorted(set(data) - {"params", *_CONVENTION_FIELDS})
    if unknown:
        raise OracleError(
            f"{where}: unknown field(s) {', '.join(unknown)}; a convention table has params "
            f"and {', '.join(_CONVENTION_FIELDS)}"
        )
    fields = {k: v for k, v in data.items() if k != "params"}
    if "absent" in fields:
        if not isinstance(fields["absent"], list):
            raise OracleError(f"{where}: absent: expected a list of canonical names")
        fields["absent"] = tuple(fields["absent"])
    fields.setdefault("name", "custom")
    return ParamConvention(params=dict(data["params"]), **fields)


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


def _run(args: argparse.Namespace) -> int:
    from rnn_oracle.architectures.frameworks import framework_of
    from rnn_oracle.oracle.check import check_gradients
    from rnn_oracle.oracle.render import emit, progress
    from rnn_oracle.oracle.targets import as_target

    plot = None if args.plot is None else check_plot_path(args.plot)
    convention = convention_from(args.convention)
    loaded = load_target(args.target)
    fields = {k: getattr(args, k) for k in _SPEC_OPTIONS if getattr(args, k) is not None}
    batch: Any = "auto" if args.batch is None else (args.batch or None)
    target: Any
    if framework_of(loaded) is not None:
        # A torch module or a Flax cell gives its own sizes and cell; it is checked in
        # layer mode.
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
        target = as_target(loaded, convention=convention, mode=args.mode)
        spec = target.resolve_spec(None).replace(**fields) if fields else None
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


__all__ = ["add_parser", "check_plot_path", "convention_from", "load_target", "run"]
