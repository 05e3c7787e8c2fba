"""What the oracle checks: a user function in one of two calling protocols, a torch module
with ``nn.RNN``'s parameter names, or a ``flax.linen.SimpleCell``.

Every target turns a canonical :class:`~rnn_oracle.case.Case` into the user's gradients,
in the user's convention, as NumPy arrays (:class:`Evaluation`). Protocol errors — the
target raises, returns the wrong structure, names, dtype — become :class:`OracleError`
with the parameter, what was expected and what came.

Calling protocols (``docs/oracle.md`` states them in full):

* model mode: ``target(params, inputs, targets, h0) -> (loss, grads)``;
* layer mode: ``target(params, inputs, h0, upstream) -> grads``, where ``grads`` also holds
  ``"inputs"`` (unless inputs are class indices) and ``"h0"``.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rnn_oracle.case import Case
from rnn_oracle.errors import OracleError
from rnn_oracle.oracle.layout import Layout, check_mode_spec
from rnn_oracle.params import ParamConvention, get_convention
from rnn_oracle.spec import RNNSpec

Mode = Literal["model", "layer"]
MODES: tuple[str, ...] = ("model", "layer")

#: Default sizes: all different, so a transposed or swapped non-square gradient has the
#: wrong shape and says so.
DEFAULT_SIZES = {"n_x": 3, "n_h": 5, "n_y": 4}

#: Spec defaults a named convention implies (its source writes the network this way).
CONVENTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "cs224n": {"cell": "sigmoid"},  # CS224n's RNN language model (alias seed000)
    "cs231n": {"batch_reduction": "mean"},
}

MODEL_PROTOCOL = "target(params, inputs, targets, h0) -> (loss, grads)"
LAYER_PROTOCOL = "target(params, inputs, h0, upstream) -> grads"


@dataclass(frozen=True)
class Evaluation:
    """One target's answer for one case, in the user's convention, as NumPy arrays."""

    grads: dict[str, np.ndarray]
    loss: float | None = None


class Target:
    """Base class: a thing whose gradients the oracle checks."""

    mode: Mode
    convention: ParamConvention
    description: str

    def resolve_spec(self, spec: RNNSpec | None) -> RNNSpec:
        raise NotImplementedError

    def prepare(self, case: Case) -> Case:
        """The case the target sees: parameters its convention lacks are zero."""
        absent = [n for n in self.convention.absent if n in case.spec.param_names]
        if not absent:
            return case
        return case.with_arrays(**{n: np.zeros_like(case.params[n]) for n in absent})

    def evaluate(self, case: Case, layout: Layout) -> Evaluation:
        raise NotImplementedError

    def required(self, layout: Layout) -> tuple[str, ...]:
        """Names the target must return gradients for."""
        names = layout.param_names
        return (*names, *layout.data_names()) if self.mode == "layer" else names

    def optional(self, layout: Layout) -> tuple[str, ...]:
        """Names the target may return (model mode: ``h0`` and ``inputs`` are checked too)."""
        return () if self.mode == "layer" else layout.data_names()


def layer_spec(spec: RNNSpec) -> RNNSpec:
    """Layer mode: no head; ``∂J/∂h_t`` is the upstream gradient as given (sums, sign +)."""
    return spec.replace(
        head="none", time_reduction="sum", batch_reduction="sum", loss_sign="standard"
    )


# -- user functions -----------------------------------------------------------------------
class FunctionTarget(Target):
    """A Python callable in the model- or layer-mode protocol."""

    def __init__(self, fn: Callable[..., Any], convention: ParamConvention, mode: Mode) -> None:
        self.fn = fn
        self.convention = convention
        self.mode = mode
        self.description = getattr(fn, "__qualname__", None) or type(fn).__name__

    def resolve_spec(self, spec: RNNSpec | None) -> RNNSpec:
        if spec is None:
            fields: dict[str, Any] = {**DEFAULT_SIZES, "inputs": self.convention.inputs}
            fields.update(CONVENTION_DEFAULTS.get(self.convention.name, {}))
            spec = RNNSpec(**fields)
        elif not isinstance(spec, RNNSpec):
            raise OracleError(f"spec: expected an RNNSpec, got {type(spec).__name__}")
        if self.mode == "layer":
            spec = layer_spec(spec)
        elif spec.head == "none":
            raise OracleError(
                "spec.head is 'none', which is layer mode; pass mode='layer' (protocol "
                f"{LAYER_PROTOCOL}) or a spec with a head for model mode"
            )
        check_mode_spec(self.convention, spec)
        self.convention.user_shapes(spec)  # raises when the convention cannot express spec
        return spec

    def evaluate(self, case: Case, layout: Layout) -> Evaluation:
        params = layout.params_to_user(case)
        inputs = layout.sequence_to_user(case.inputs)
        h0 = layout.state_to_user(case.h0)
        if self.mode == "model":
            assert case.targets is not None
            args = (params, inputs, layout.sequence_to_user(case.targets), h0)
            protocol = MODEL_PROTOCOL
        else:
            assert case.upstream is not None
            args = (params, inputs, h0, layout.sequence_to_user(case.upstream))
            protocol = LAYER_PROTOCOL
        # Fresh, writable copies each call: the user's code may work in place, and nothing
        # it does can reach the case the reference is computed from.
        args = tuple(_fresh(a) for a in args)
        result = call_target(self.fn, args, case, self.description, protocol)
        if self.mode == "layer":
            return Evaluation(grads=parse_grads(result, self, layout, case))
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            got = f"a {type(result).__name__}" + (
                f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""
            )
            raise OracleError(
                f"{self.description}: model mode expects {protocol}: a pair (loss, grads); "
                f"got {got}"
            )
        loss, grads = result
        return Evaluation(
            grads=parse_grads(grads, self, layout, case), loss=parse_loss(loss, self.description)
        )


def _fresh(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True)
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    return value


def call_target(
    fn: Callable[..., Any], args: tuple[Any, ...], case: Any, name: str, protocol: str
) -> Any:
    """``fn(*args)``; whatever it raises (exits included) becomes an :class:`OracleError`
    naming the target, the case and the protocol."""
    where = f"case seed {case.seed}, T = {case.seq_len}, batch = {case.batch}"
    # The precision scope is the oracle's, entered outside the guard: its failure is not
    # the target's.
    with framework_precision(case.dtype):
        try:
            return fn(*args)
        except OracleError:
            raise
        except TARGET_FAILURES as exc:
            raise OracleError(
                f"{name} raised {type(exc).__name__}: {exc} ({where}; called as {protocol})"
            ) from exc


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


#: What a target may raise as its own failure. SystemExit and KeyboardInterrupt too: a
#: target (or the file it lives in) that exits must not end the check silently, or with
#: its own exit status.
TARGET_FAILURES = (Exception, SystemExit, KeyboardInterrupt)


def framework_precision(dtype: str) -> Any:
    """JAX computes in float32 unless x64 is on: scope it on (never for good) while a
    float64 case runs, if the user's code has imported JAX (``sys.modules["jax"] = None``
    blocks JAX: then it has not)."""
    if dtype == "float64" and sys.modules.get("jax") is not None:
        from backends import get_backend

        return get_backend("jax").precision("float64")
    return _Nothing()


def to_numpy(what: str, value: Any, dtype: str) -> np.ndarray:
    """A NumPy copy of a NumPy, torch or JAX array (or nested list), checked for dtype."""
    from backends import BackendError, backend_of

    if value is None:
        raise OracleError(f"{what}: expected an array, got None")
    source_dtype = getattr(value, "dtype", None)
    if isinstance(value, np.ndarray):
        arr = np.array(value, copy=True)
    elif source_dtype is not None and not isinstance(value, np.generic):
        try:
            arr = backend_of(value).to_numpy(value)
        except BackendError as exc:
            raise OracleError(f"{what}: {exc}") from exc
    else:
        try:
            arr = np.array(value, dtype=None if source_dtype is not None else dtype)
        except (TypeError, ValueError) as exc:
            raise OracleError(f"{what}: cannot be read as an array ({exc})") from exc
    if arr.dtype.kind != "f":
        raise OracleError(f"{what}: expected real floating-point numbers ({dtype}), got dtype "
                          f"{arr.dtype}")
    if arr.dtype.name != dtype:
        hint = ""
        if type(value).__module__.split(".")[0] in ("jax", "jaxlib"):
            hint = " (JAX computes in float32 unless x64 is enabled)"
        raise OracleError(
            f"{what}: expected dtype {dtype} (the dtype of the case it was given), got "
            f"{arr.dtype.name}{hint}"
        )
    return arr


def parse_loss(loss: Any, name: str) -> float:
    if loss is None:
        raise OracleError(f"{name}: expected a scalar loss as the first element, got None")
    try:
        arr = _loss_array(loss)
    except (TypeError, ValueError) as exc:
        raise OracleError(f"{name}: the loss cannot be read as a number ({exc})") from exc
    if arr.size != 1:
        raise OracleError(f"{name}: expected a scalar loss, got an array of shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise OracleError(f"{name}: expected a real scalar loss, got dtype {arr.dtype}")
    return float(arr.reshape(()))


def _loss_array(loss: Any) -> np.ndarray:
    from backends import BackendError, backend_of

    if isinstance(loss, (np.ndarray, np.generic, float, int)):
        return np.asarray(loss)
    try:
        return backend_of(loss).to_numpy(loss)
    except BackendError:
        return np.asarray(loss)


def parse_grads(raw: Any, target: Target, layout: Layout, case: Case) -> dict[str, np.ndarray]:
    """Check names and dtypes of a target's gradients; shapes are judged by the comparison
    (a transposed or swapped gradient is diagnosed there)."""
    required = target.required(layout)
    optional = target.optional(layout)
    conv = target.convention.name
    if not isinstance(raw, Mapping):
        raise OracleError(
            f"{target.description}: expected the gradients as a dict keyed by convention "
            f"{conv!r}'s names {list(required)}, got {type(raw).__name__}"
        )
    missing = [n for n in required if n not in raw]
    extra = [n for n in raw if n not in required and n not in optional]
    if missing or extra:
        raise OracleError(
            f"{target.description}: gradient names do not match convention {conv!r} in "
            f"{target.mode} mode: expected {list(required)}"
            + (f" (optionally {list(optional)})" if optional else "")
            + f"; missing {missing}, unexpected {extra}"
        )
    return {
        name: to_numpy(f"grads[{name!r}]", raw[name], case.dtype)
        for name in (*required, *optional)
        if name in raw
    }


# -- torch modules ------------------------------------------------------------------------
_TORCH_NAMES = {
    "weight_ih_l0": "W_xh",
    "weight_hh_l0": "W_hh",
    "bias_ih_l0": "b_h",
    "bias_hh_l0": "b_h",
}


def is_torch_module(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


class TorchModuleTarget(Target):
    """A ``torch.nn.Module`` with ``nn.RNN``'s parameter names, called as
    ``module(x, h0) -> (out, h_n)`` (or ``out``), in layer mode.

    The oracle works on a deep copy: the user's module keeps its weights and dtype.
    """

    mode: Mode = "layer"

    def __init__(self, module: Any) -> None:
        if getattr(module, "num_layers", 1) != 1 or getattr(module, "bidirectional", False):
            raise OracleError(
                f"{type(module).__name__}: only a single-layer, unidirectional RNN is checked"
            )
        names = dict(module.named_parameters())
        unknown = [n for n in names if n not in _TORCH_NAMES]
        missing = [n for n in ("weight_ih_l0", "weight_hh_l0") if n not in names]
        if unknown or missing:
            raise OracleError(
                f"{type(module).__name__}: a torch module is checked by nn.RNN's parameter "
                f"names {list(_TORCH_NAMES)} (one layer, one direction); missing {missing}, "
                f"unexpected {unknown}"
            )
        biases = [n for n in ("bias_ih_l0", "bias_hh_l0") if n in names]
        mapping = {n: _TORCH_NAMES[n] for n in ("weight_ih_l0", "weight_hh_l0", *biases)}
        self.batch_first = bool(getattr(module, "batch_first", False))
        self.convention = ParamConvention(
            "torch-module",
            mapping,
            vectors="row",
            sequence_layout="batch_major" if self.batch_first else "time_major",
            state_shape="layered",
            absent=() if biases else ("b_h",),
            description="a torch module with nn.RNN's parameter names",
        )
        self.module = module
        self.n_h, self.n_x = (int(s) for s in names["weight_ih_l0"].shape)
        self.cell = str(getattr(module, "nonlinearity", "tanh"))
        self.description = type(module).__name__

    def resolve_spec(self, spec: RNNSpec | None) -> RNNSpec:
        sizes = {"n_x": self.n_x, "n_h": self.n_h, "n_y": 1, "head": "none"}
        if spec is None:
            if self.cell not in ("tanh", "relu"):
                raise OracleError(
                    f"{self.description}.nonlinearity: expected 'tanh' or 'relu', got "
                    f"{self.cell!r}; pass spec=RNNSpec(cell=...) to say which cell it is"
                )
            spec = RNNSpec(cell=self.cell, **sizes)  # type: ignore[arg-type]
        else:
            _check_sizes(spec, self.description, n_x=self.n_x, n_h=self.n_h)
        if spec.inputs == "indices":
            raise OracleError(f"{self.description}: a module takes dense inputs, not indices")
        return layer_spec(spec)

    def evaluate(self, case: Case, layout: Layout) -> Evaluation:
        import torch

        dtype = getattr(torch, case.dtype)
        module = copy.deepcopy(self.module).to(dtype)
        params = layout.params_to_user(case)
        tensors = []
        with torch.no_grad():
            for name, p in module.named_parameters():
                p.copy_(torch.from_numpy(np.ascontiguousarray(params[name])))
                p.requires_grad_(True)
                tensors.append((name, p))
        x = torch.tensor(layout.convention.sequence_to_user(case.inputs), requires_grad=True)
        h0 = torch.tensor(layout.state_to_user(case.h0), requires_grad=True)
        assert case.upstream is not None
        upstream = torch.tensor(layout.convention.sequence_to_user(case.upstream))
        protocol = "module(x, h0) -> (out, h_n)"
        result = call_target(module, (x, h0), case, self.description, protocol)
        out = result[0] if isinstance(result, (tuple, list)) else result
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(upstream.shape):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise OracleError(
                f"{self.description}: expected {protocol} with out of shape "
                f"{tuple(upstream.shape)} (the hidden-state sequence, "
                f"{'batch' if self.batch_first else 'time'} first); got {got}"
            )
        wrt = [p for _, p in tensors] + [x, h0]
        try:
            grads = torch.autograd.grad(out, wrt, grad_outputs=upstream, allow_unused=True)
        except RuntimeError as exc:
            raise OracleError(f"{self.description}: backward raised: {exc}") from exc
        names = [n for n, _ in tensors] + ["inputs", "h0"]
        # An unused input has no gradient: it is zero, which the comparison then judges.
        raw = {
            n: (g if g is not None else torch.zeros_like(w))
            for n, g, w in zip(names, grads, wrt, strict=True)
        }
        return Evaluation(grads=parse_grads(raw, self, layout, case))


def _check_sizes(spec: RNNSpec, what: str, **sizes: int) -> None:
    for field, value in sizes.items():
        if getattr(spec, field) != value:
            raise OracleError(
                f"spec.{field} is {getattr(spec, field)} but {what} has {field} = {value}"
            )


# -- Flax cells -----------------------------------------------------------------------------
def is_flax_cell(obj: Any) -> bool:
    linen = sys.modules.get("flax.linen")
    return linen is not None and isinstance(obj, linen.SimpleCell)


class FlaxCellTarget(Target):
    """A ``flax.linen.SimpleCell``, run over the sequence step by step, in layer mode."""

    mode: Mode = "layer"

    def __init__(self, cell: Any) -> None:
        if getattr(cell, "residual", False):
            raise OracleError("SimpleCell(residual=True) is not the canonical network")
        self.cell_module = cell
        self.n_h = int(cell.features)
        fn_name = getattr(cell.activation_fn, "__name__", repr(cell.activation_fn))
        if fn_name not in ("tanh", "sigmoid", "relu"):
            raise OracleError(
                f"SimpleCell.activation_fn: expected tanh, sigmoid or relu, got {fn_name}"
            )
        self.cell = fn_name
        self.convention = get_convention("flax")
        self.description = f"flax SimpleCell(features={self.n_h})"

    def resolve_spec(self, spec: RNNSpec | None) -> RNNSpec:
        if spec is None:
            spec = RNNSpec(
                cell=self.cell,  # type: ignore[arg-type]
                n_x=DEFAULT_SIZES["n_x"],
                n_h=self.n_h,
                n_y=1,
                head="none",
            )
        else:
            _check_sizes(spec, self.description, n_h=self.n_h)
            if spec.cell != self.cell:
                raise OracleError(f"spec.cell is {spec.cell!r} but the cell uses {self.cell}")
        if spec.inputs == "indices":
            raise OracleError(f"{self.description}: a cell takes dense inputs, not indices")
        return layer_spec(spec)

    def evaluate(self, case: Case, layout: Layout) -> Evaluation:
        import jax
        import jax.numpy as jnp

        from backends import get_backend

        p = case.params
        with get_backend("jax").precision(case.dtype):
            params = {
                "i": {"kernel": jnp.asarray(p["W_xh"].T), "bias": jnp.asarray(p["b_h"])},
                "h": {"kernel": jnp.asarray(p["W_hh"].T)},
            }
            xs, h0 = jnp.asarray(case.inputs), jnp.asarray(case.h0)
            shapes = jax.eval_shape(self.cell_module.init, jax.random.PRNGKey(0), h0, xs[0])
            expected = jax.tree.map(lambda a: tuple(a.shape), shapes.get("params", {}))
            given = jax.tree.map(lambda a: tuple(a.shape), params)
            if expected != given:
                raise OracleError(
                    f"{self.description}: expected parameters {given} (Dense 'i' with bias, "
                    f"Dense 'h' without), the cell declares {expected}"
                )
            cell = self.cell_module

            def run(prm: Any, xs: Any, h0: Any) -> Any:
                carry, outs = h0, []
                for t in range(xs.shape[0]):
                    carry, y = cell.apply({"params": prm}, carry, xs[t])
                    outs.append(y)
                return jnp.stack(outs)

            def pull(prm: Any, xs: Any, h0: Any, up: Any) -> Any:
                return jax.vjp(run, prm, xs, h0)[1](up)

            try:
                # One compiled program instead of hundreds of eagerly dispatched small ops.
                g, g_x, g_h0 = jax.jit(pull)(params, xs, h0, jnp.asarray(case.upstream))
            except TARGET_FAILURES as exc:
                raise OracleError(f"{self.description} raised {type(exc).__name__}: {exc}") from exc
            canonical = {
                "W_xh": np.asarray(g["i"]["kernel"]).T,
                "b_h": np.asarray(g["i"]["bias"]),
                "W_hh": np.asarray(g["h"]["kernel"]).T,
            }
            data = {"inputs": np.asarray(g_x), "h0": np.asarray(g_h0)}
        grads = {n: layout.to_user(n, canonical[layout.canonical(n)]) for n in layout.param_names}
        grads.update({n: layout.to_user(n, data[n]) for n in layout.data_names()})
        return Evaluation(grads=parse_grads(grads, self, layout, case))


# -- dispatch -------------------------------------------------------------------------------
def as_target(target: Any, *, convention: Any = None, mode: str | None = None) -> Target:
    """Wrap what the user passed: a Target, a torch module, a Flax cell or a function."""
    if mode is not None and mode not in MODES:
        raise OracleError(f"mode: expected 'model' or 'layer', got {mode!r}")
    if isinstance(target, Target):
        return target
    module: Target | None = None
    if is_torch_module(target):
        module = TorchModuleTarget(target)
    elif is_flax_cell(target):
        module = FlaxCellTarget(target)
    if module is not None:
        if mode == "model":
            raise OracleError(
                f"{module.description}: a module or cell is checked in layer mode (it has no "
                "loss head); pass mode='layer' or leave mode out"
            )
        if convention is not None:
            raise OracleError(
                f"{module.description}: a module's convention is read from it (parameter "
                f"names {list(module.convention.params)}); leave convention out"
            )
        return module
    if not callable(target):
        raise OracleError(
            "target: expected a function, a torch.nn.Module with nn.RNN's parameter names or "
            f"a flax.linen.SimpleCell, got {type(target).__name__}"
        )
    if convention is None:
        raise OracleError(
            "convention: a function target needs one (a preset such as 'cs231n' or "
            "'karpathy', or a mapping such as {'Wx': 'W_xh.T', ...})"
        )
    return FunctionTarget(target, get_convention(convention), mode or "model")  # type: ignore[arg-type]
