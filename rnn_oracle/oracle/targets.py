"""What the oracle checks: the user's code, wrapped so that a case goes in and the user's
gradients, keyed by the user's names, come out as NumPy arrays.

Protocol errors — the target raises, exits, returns the wrong structure, names, dtype —
become :class:`OracleError` with the parameter, what was expected and what came. Calling
protocols (``docs/oracle.md`` states them in full):

* a single layer in a named convention (:class:`FunctionTarget`, on a
  :class:`~rnn_oracle.case.Case`): model mode ``target(params, inputs, targets, h0) ->
  (loss, grads)``; layer mode ``target(params, inputs, h0, upstream) -> grads``, where
  ``grads`` also holds ``"inputs"`` (unless inputs are class indices) and ``"h0"``;
* a layer stack (:class:`NetworkTarget`, on a
  :class:`~rnn_oracle.architectures.NetworkCase` with head none: ``upstream`` is
  ``∂J/∂out``): a function :data:`NETWORK_PROTOCOL` in canonical or torch names here, and
  torch modules and Flax cells (:mod:`rnn_oracle.oracle.module_targets`). Each user array
  is a view of one canonical array (:class:`UserArray`), which is how the reference
  reaches the user's names and shapes.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rnn_oracle.architectures.case import NetworkCase
from rnn_oracle.architectures.frameworks import (
    framework_of,
    layer_mode_spec,
    params_to_torch,
    sequence_to_torch,
    split_torch_states,
    states_to_torch,
    torch_param_names,
    torch_state_slots,
)
from rnn_oracle.architectures.spec import NetworkSpec
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
NETWORK_PROTOCOL = "fn(params, inputs, initial_states, upstream) -> grads"
NAMINGS: tuple[str, ...] = ("canonical", "torch")


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
    return contextlib.nullcontext()


def to_numpy(what: str, value: Any, dtype: str) -> np.ndarray:
    """A NumPy copy of a NumPy, torch or JAX array (or nested list), checked for dtype:
    ``dtype`` itself, or float64 for a float32 case (higher precision, which the check
    accepts with a note unless ``strict_dtype``: :func:`check_precision`)."""
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
    if dtype == "float32" and arr.dtype == np.float64:
        return arr  # higher precision than asked: the check accepts it or not (strict_dtype)
    if arr.dtype.name != dtype:
        hint = ""
        if type(value).__module__.split(".")[0] in ("jax", "jaxlib"):
            hint = " (JAX computes in float32 unless x64 is enabled)"
        raise OracleError(
            f"{what}: expected dtype {dtype} (the dtype of the case it was given), got "
            f"{arr.dtype.name}{hint}"
        )
    return arr


def check_precision(
    arrays: Mapping[str, np.ndarray], dtype: str, strict: bool, description: str
) -> tuple[str, ...]:
    """The names of the arrays that came back in float64 for a float32 case; with
    ``strict``, the first of them is an error instead. NumPy code that accumulates in
    ``np.zeros(shape)`` (float64 by default) computes a float32 case in float64: more
    precise than the bound assumes, so the verdict still holds."""
    wider = tuple(n for n, a in arrays.items() if a.dtype.name != dtype)
    if wider and strict:
        raise OracleError(
            f"{description}: grads[{wider[0]!r}]: expected dtype {dtype} (the dtype of the "
            f"case it was given), got {arrays[wider[0]].dtype.name} (strict_dtype=True; "
            "without it a higher precision is accepted with a note)"
        )
    return wider


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


# -- dispatch -------------------------------------------------------------------------------
def as_target(target: Any, *, convention: Any = None, mode: str | None = None) -> Target:
    """Wrap what the user passed: a Target or a function."""
    if mode is not None and mode not in MODES:
        raise OracleError(f"mode: expected 'model' or 'layer', got {mode!r}")
    if isinstance(target, Target):
        return target
    if not callable(target):
        raise OracleError(
            "target: expected a function, a torch.nn.RNN/GRU/LSTM (or a torch module with "
            f"their parameter names) or a Flax recurrent cell, got {type(target).__name__}"
        )
    if convention is None:
        raise OracleError(
            "convention: a function target needs one (a preset such as 'cs231n' or "
            "'karpathy', or a mapping such as {'Wx': 'W_xh.T', ...})"
        )
    return FunctionTarget(target, get_convention(convention), mode or "model")  # type: ignore[arg-type]


# -- layer stacks ------------------------------------------------------------------------------
@dataclass(frozen=True)
class UserArray:
    """One gradient the user returns, as a view of a canonical array: rows
    ``rows[0]:rows[1]`` (a gate block), transposed, or with batch and time swapped."""

    name: str  #: the user's name (``weight_hh_l1_reverse``, ``h0[2]``, ``ir.kernel``)
    canonical: str  #: the canonical array (``layer1.backward.W_hh``)
    rows: tuple[int, int] | None = None
    gate: str | None = None  #: the gate of ``rows``
    transposed: bool = False
    batch_first: bool = False
    #: whether the code must return it (an initial state that is zero or fixed need not)
    required: bool = True

    def from_canonical(self, arrays: Mapping[str, Any]) -> np.ndarray:
        value = np.asarray(arrays[self.canonical])
        if self.rows is not None:
            value = value[self.rows[0] : self.rows[1]]
        if self.transposed:
            value = value.T
        if self.batch_first and value.ndim == 3:
            value = np.swapaxes(value, 0, 1)
        return value

    def to_canonical(self, value: np.ndarray) -> np.ndarray | None:
        """The inverse view (``None`` for a gate block: it is only part of its array)."""
        if self.rows is not None:
            return None
        value = np.asarray(value)
        if self.batch_first and value.ndim == 3:
            value = np.swapaxes(value, 0, 1)
        return value.T if self.transposed else value

    @property
    def mapping(self) -> str:
        text = self.canonical
        if self.rows is not None:
            text += f"[{self.rows[0]}:{self.rows[1]}] (gate {self.gate})"
        if self.transposed:
            text += ".T"
        if self.batch_first:
            text += " (batch first)"
        return text


class NetworkTarget:
    """Base class: a layer stack whose gradients the network oracle checks."""

    description: str
    convention: str  #: ``torch``, ``flax`` or ``canonical``
    spec: NetworkSpec
    batch_first: bool = False

    def user_arrays(self) -> dict[str, UserArray]:
        raise NotImplementedError

    def prepare(self, case: NetworkCase) -> NetworkCase:
        """The case the target sees (parameters the target lacks set to zero)."""
        return case

    def evaluate(self, case: NetworkCase) -> dict[str, np.ndarray]:
        raise NotImplementedError


def torch_user_arrays(
    spec: NetworkSpec, batch_first: bool, bias: bool = True
) -> dict[str, UserArray]:
    arrays = {t: UserArray(t, c) for t, c in torch_param_names(spec, bias).items()}
    arrays["inputs"] = UserArray("inputs", "inputs", batch_first=batch_first)
    for s in spec.state_names:
        required = spec.state_kind(s) in ("given", "learned")
        for k, prefix in torch_state_slots(spec):
            arrays[f"{s}0[{k}]"] = UserArray(f"{s}0[{k}]", f"{prefix}{s}0", required=required)
    return arrays


# -- user functions ---------------------------------------------------------------------------
class NetworkFunctionTarget(NetworkTarget):
    """A user function in :data:`NETWORK_PROTOCOL`.

    ``names="canonical"``: ``params`` keyed by ``spec.param_names``
    (``layer{l}.{forward|backward}.W_xh`` …), ``inputs`` ``(T, [B,] n_x)``,
    ``initial_states`` keyed by ``layer{l}.{d}.h0`` (and ``c0``), ``upstream``
    ``(T, [B,] n_top)``; ``grads`` keyed by every parameter, initial state and ``inputs``.

    ``names="torch"``: ``params`` keyed by torch's names (``weight_hh_l1_reverse`` …; a
    vanilla cell's ``bias_hh`` is zero and ``bias_ih`` holds ``b_h``), ``inputs`` and
    ``upstream`` in torch's layout (``(B, T, …)`` with ``batch_first``),
    ``initial_states`` ``{"h0": (L·D, [B,] n_h)}`` (and ``"c0"``); ``grads`` keyed by
    torch's parameter names, ``inputs``, ``h0`` (and ``c0``), stacked as torch stacks them.
    """

    def __init__(
        self, fn: Callable[..., Any], spec: NetworkSpec, names: str = "canonical",
        batch_first: bool = False,
    ) -> None:
        if names not in NAMINGS:
            raise OracleError(f"names: expected 'canonical' or 'torch', got {names!r}")
        if spec is None:
            raise OracleError(
                "spec: a function target needs a NetworkSpec (architecture, cell, sizes, "
                "n_layers) to say which network it differentiates"
            )
        self.spec = layer_mode_spec(spec)
        if batch_first and names != "torch":
            raise OracleError("batch_first: only names='torch' uses torch's layout")
        self.fn = fn
        self.names = names
        self.batch_first = bool(batch_first)
        self.convention = names
        self.description = getattr(fn, "__qualname__", None) or type(fn).__name__

    def user_arrays(self) -> dict[str, UserArray]:
        if self.names == "torch":
            return torch_user_arrays(self.spec, self.batch_first)
        spec = self.spec
        optional = set(spec.initial_state_names()) - set(spec.required_initial_states())
        return {n: UserArray(n, n, required=n not in optional)
                for n in (*spec.param_names, *spec.initial_state_names(), "inputs")}

    def evaluate(self, case: NetworkCase) -> dict[str, np.ndarray]:
        spec = self.spec
        assert case.upstream is not None
        states: dict[str, np.ndarray]
        # A learned initial state is passed with the parameters; the gradient of a zero
        # or fixed one is optional (judged when returned).
        if self.names == "torch":
            params = params_to_torch(spec, case.arrays)
            states = states_to_torch(spec, case.arrays)
            inputs = sequence_to_torch(case.arrays["inputs"], self.batch_first)
            upstream = sequence_to_torch(case.upstream, self.batch_first)
            kinds = {f"{s}0": spec.state_kind(s) for s in spec.state_names}
        else:
            params = {n: np.array(case.arrays[n], copy=True) for n in spec.param_names}
            states = {n: np.array(case.arrays[n], copy=True)
                      for n in spec.initial_state_names()}
            inputs = np.array(case.arrays["inputs"], copy=True)
            upstream = np.array(case.upstream, copy=True)
            kinds = {n: spec.initial_kind(n) for n in states}
        params.update({n: states.pop(n) for n, kind in kinds.items() if kind == "learned"})
        optional = [n for n, kind in kinds.items() if kind in ("zero", "fixed")]
        expected = [*params, "inputs", *(n for n in kinds if n not in optional and n in states)]
        raw = call_target(self.fn, (params, inputs, states, upstream), case, self.description,
                          NETWORK_PROTOCOL)
        if not isinstance(raw, Mapping):
            raise OracleError(
                f"{self.description}: expected the gradients as a dict keyed by {expected} "
                f"({self.names} names), got {type(raw).__name__}"
            )
        missing = [n for n in expected if n not in raw]
        extra = [n for n in raw if n not in expected and n not in optional]
        if missing or extra:
            given = f"; may also return {optional} (zero or fixed states)" if optional else ""
            states_missing = [n for n in missing if n in kinds]
            hint = "" if not states_missing else (
                ". If the code starts from a state it does not differentiate (CS231n's LSTM "
                "fixes c0 = 0), say so: NetworkSpec(initial_state={'h': 'given', 'c': "
                "'zero'}) — kinds per state: given, zero, fixed, learned"
            )
            raise OracleError(
                f"{self.description}: gradient names do not match ({self.names} names): "
                f"expected {expected}{given}; missing {missing}, unexpected {extra}{hint}"
            )
        out = {n: to_numpy(f"grads[{n!r}]", raw[n], case.dtype) for n in raw}
        if self.names == "torch":
            split_torch_states(spec, out, self.description)
        return out


# -- dispatch ---------------------------------------------------------------------------------
def as_network_target(
    target: Any, spec: NetworkSpec | None = None, names: str | Mapping[str, str] = "canonical",
    batch_first: bool = False,
) -> NetworkTarget:
    """Wrap what the user passed: a NetworkTarget, a torch module, a Flax cell or a function
    in :data:`NETWORK_PROTOCOL`. ``names``: a function's naming (``"canonical"`` or
    ``"torch"``), or a torch module's own parameter names -> torch's or canonical ones."""
    if isinstance(target, NetworkTarget):
        return target
    framework = framework_of(target)
    if framework is not None:
        if (isinstance(names, str) and names != "canonical") or batch_first:
            raise OracleError(
                f"names, batch_first: a module's layout is read from it, and names maps its "
                f"own parameter names (a dict); got names={names!r}, batch_first={batch_first!r}"
            )
        # Module targets build on this module's base class, hence the late import.
        from rnn_oracle.oracle.module_targets import module_target

        return module_target(framework, target, spec, None if isinstance(names, str) else names)
    if not callable(target):
        raise OracleError(
            "target: expected a torch.nn.RNN/GRU/LSTM, a Flax SimpleCell/GRUCell/LSTMCell or "
            f"a function {NETWORK_PROTOCOL}, got {type(target).__name__}"
        )
    if not isinstance(names, str):
        raise OracleError(
            f"names: a function's gradients are named 'canonical' or 'torch' (a mapping is "
            f"for a torch module's own parameter names), got {names!r}"
        )
    return NetworkFunctionTarget(target, spec, names, batch_first)  # type: ignore[arg-type]
