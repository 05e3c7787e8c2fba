"""What the oracle checks in layer mode: a torch module (``nn.RNN``/``GRU``/``LSTM`` with
any number of layers, either direction count, ``batch_first`` either way, or a module with
their parameter names), a Flax ``SimpleCell``/``GRUCell``/``LSTMCell``/``OptimizedLSTMCell``,
or a user function

    ``fn(params, inputs, initial_states, upstream) -> grads``

(:data:`NETWORK_PROTOCOL`) in canonical names or in torch's. What a module is, and how its
names and layouts map to the canonical network's, is read by
:mod:`rnn_oracle.architectures.frameworks`; these classes only run it.

Every target turns a canonical :class:`~rnn_oracle.architectures.NetworkCase` (head none:
``upstream`` is ``∂J/∂out``) into the user's gradients, keyed by the user's names, as NumPy
arrays. Each user array is a view of one canonical array (:class:`UserArray`), which is
how the reference reaches the user's names and shapes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnn_oracle.architectures.case import NetworkCase
from rnn_oracle.architectures.frameworks import (
    flax_absent_zero,
    flax_arrays,
    flax_layout,
    framework_of,
    layer_mode_spec,
    params_to_flax,
    params_to_torch,
    sequence_to_torch,
    split_torch_states,
    states_to_torch,
    torch_layout,
    torch_param_names,
    torch_state_slots,
)
from rnn_oracle.architectures.spec import GATES, NetworkSpec
from rnn_oracle.errors import OracleError
from rnn_oracle.oracle.targets import DEFAULT_SIZES, TARGET_FAILURES, call_target, to_numpy
from rnn_oracle.spec import CELLS as VANILLA_CELLS

NETWORK_PROTOCOL = "fn(params, inputs, initial_states, upstream) -> grads"
NAMINGS: tuple[str, ...] = ("canonical", "torch")


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


def _check_spec(
    given: NetworkSpec | None, own: NetworkSpec, what: str, cell_stated: bool = True
) -> NetworkSpec:
    """The module's own spec, or ``given`` where it agrees with the module (on the cell too,
    unless the module does not state its vanilla nonlinearity: then ``given`` says it)."""
    if given is None:
        if not cell_stated:
            raise OracleError(
                f"{what}.nonlinearity: the module has no nonlinearity attribute, so its cell "
                "is unknown; set it (module.nonlinearity = 'tanh' or 'relu') or give "
                "spec=NetworkSpec(..., cell=...)"
            )
        return own
    if not isinstance(given, NetworkSpec):
        raise OracleError(f"spec: expected a NetworkSpec, got {type(given).__name__}")
    given = layer_mode_spec(given)
    free = () if cell_stated or given.cell not in VANILLA_CELLS else ("cell",)
    for field in ("architecture", "cell", "n_x", "n_h", "n_layers"):
        if field not in free and getattr(given, field) != getattr(own, field):
            raise OracleError(
                f"spec.{field} is {getattr(given, field)!r} but {what} has "
                f"{field} = {getattr(own, field)!r}"
            )
    return given


def _torch_user_arrays(
    spec: NetworkSpec, batch_first: bool, bias: bool = True
) -> dict[str, UserArray]:
    arrays = {t: UserArray(t, c) for t, c in torch_param_names(spec, bias).items()}
    arrays["inputs"] = UserArray("inputs", "inputs", batch_first=batch_first)
    for s in spec.state_names:
        for k, prefix in torch_state_slots(spec):
            arrays[f"{s}0[{k}]"] = UserArray(f"{s}0[{k}]", f"{prefix}{s}0")
    return arrays


# -- torch modules ----------------------------------------------------------------------------
class TorchNetworkTarget(NetworkTarget):
    """A torch recurrent module (:func:`~rnn_oracle.architectures.frameworks.torch_layout`)
    called as ``module(x, h0)`` (LSTM: ``module(x, (h0, c0))``) -> ``(out, h_n)``;
    ``upstream`` is backpropagated through ``out``. The oracle works on a deep copy: the
    user's module keeps its weights, dtype, ``requires_grad``, ``.grad`` and training
    state. A module without biases is the canonical network with zero biases."""

    convention = "torch"

    def __init__(self, module: Any, spec: NetworkSpec | None = None) -> None:
        self.layout = layout = torch_layout(module)
        self.module = module
        self.batch_first = layout.batch_first
        self.spec = _check_spec(spec, layout.spec, layout.class_name, layout.cell_stated)
        self.description = layout.description

    def user_arrays(self) -> dict[str, UserArray]:
        return _torch_user_arrays(self.spec, self.batch_first, self.layout.bias)

    def prepare(self, case: NetworkCase) -> NetworkCase:
        if self.layout.bias:
            return case
        biases = {c for t, c in torch_param_names(self.spec).items() if t.startswith("bias")}
        return case.with_arrays(**{n: np.zeros_like(case.arrays[n]) for n in biases})

    def evaluate(self, case: NetworkCase) -> dict[str, np.ndarray]:
        import torch

        spec = self.spec
        dtype = getattr(torch, case.dtype)
        module = copy.deepcopy(self.module).to(dtype)
        values = params_to_torch(spec, case.arrays, self.layout.bias)
        named = dict(module.named_parameters())
        with torch.no_grad():
            for name, value in values.items():
                named[name].copy_(torch.from_numpy(np.ascontiguousarray(value)))
                named[name].requires_grad_(True)
        x = torch.tensor(sequence_to_torch(case.arrays["inputs"], self.batch_first),
                         requires_grad=True)
        states = {k: torch.tensor(v, requires_grad=True)
                  for k, v in states_to_torch(spec, case.arrays).items()}
        assert case.upstream is not None
        upstream = torch.tensor(sequence_to_torch(case.upstream, self.batch_first))
        hx = (states["h0"], states["c0"]) if spec.cell == "lstm" else states["h0"]
        protocol = "module(x, (h0, c0))" if spec.cell == "lstm" else "module(x, h0)"
        where = f"case seed {case.seed}, T = {case.seq_len}, batch = {case.batch}"
        try:
            with torch.enable_grad():
                result = module(x, hx)
                out = result[0] if isinstance(result, (tuple, list)) else result
                if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(upstream.shape):
                    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                    raise OracleError(
                        f"{self.description}: expected {protocol} -> (out, h_n) with out of "
                        f"shape {tuple(upstream.shape)}; got {got}"
                    )
                wrt = [named[n] for n in values] + [x, *states.values()]
                grads = torch.autograd.grad(out, wrt, grad_outputs=upstream, allow_unused=True)
        except OracleError:
            raise
        except TARGET_FAILURES as exc:
            raise OracleError(
                f"{self.description} raised {type(exc).__name__}: {exc} ({where}; called as "
                f"{protocol})"
            ) from exc
        names = [*values, "inputs", *states]
        raw: dict[str, Any] = {}
        for n, g, w in zip(names, grads, wrt, strict=True):
            # An unused input has no gradient: it is zero, which the comparison then judges.
            raw[n] = to_numpy(f"grads[{n!r}]", g if g is not None else torch.zeros_like(w),
                              case.dtype)
        split_torch_states(spec, raw, self.description)
        return raw


# -- Flax cells -------------------------------------------------------------------------------
class FlaxNetworkCellTarget(NetworkTarget):
    """A Flax ``SimpleCell``, ``GRUCell``, ``LSTMCell`` or ``OptimizedLSTMCell``
    (:func:`~rnn_oracle.architectures.frameworks.flax_layout`) run over the sequence step by
    step (one block, ``layer0.forward.``); ``upstream`` is backpropagated through the
    sequence of outputs. Gradients are keyed by Flax's parameter paths (``ir.kernel``) and
    ``inputs``, ``h0`` (and ``c0``)."""

    convention = "flax"

    def __init__(self, cell: Any, spec: NetworkSpec | None = None) -> None:
        layout = flax_layout(cell)
        self.cell_module = cell
        self.kind = layout.kind
        self.n_h = layout.n_h
        n_x = spec.n_x if isinstance(spec, NetworkSpec) else DEFAULT_SIZES["n_x"]
        self.spec = _check_spec(spec, layout.spec(n_x), layout.class_name)
        self.description = layout.description
        self._jitted: Any = None

    def _pull(self) -> Any:
        """``(params, xs, carry, upstream) -> vjp``, jitted once per target (one compile per
        shape and dtype)."""
        if self._jitted is None:
            import jax

            cell = self.cell_module

            def run(prm: Any, xs: Any, carry: Any) -> Any:
                def one(c: Any, x: Any) -> Any:
                    return cell.apply({"params": prm}, c, x)

                # A scan compiles one step, whatever T is.
                return jax.lax.scan(one, carry, xs)[1]

            def pull(prm: Any, xs: Any, carry: Any, up: Any) -> Any:
                return jax.vjp(run, prm, xs, carry)[1](up)

            self._jitted = jax.jit(pull)
        return self._jitted

    def user_arrays(self) -> dict[str, UserArray]:
        gates = GATES.get(self.kind)
        n = self.n_h
        out = {
            a.name: UserArray(a.name, f"layer0.forward.{a.canonical}",
                              rows=None if gates is None else (a.gate * n, (a.gate + 1) * n),
                              gate=None if gates is None else gates[a.gate],
                              transposed=a.transposed)
            for a in flax_arrays(self.kind)
        }
        out["inputs"] = UserArray("inputs", "inputs")
        for s in self.spec.state_names:
            out[f"{s}0"] = UserArray(f"{s}0", f"layer0.forward.{s}0")
        return out

    def prepare(self, case: NetworkCase) -> NetworkCase:
        block = {k.rpartition(".")[2]: v for k, v in case.arrays.items()
                 if k.startswith("layer0.forward.")}
        zeroed = flax_absent_zero(self.kind, self.n_h, block)
        if not zeroed:
            return case
        return case.with_arrays(**{f"layer0.forward.{k}": v for k, v in zeroed.items()})

    def evaluate(self, case: NetworkCase) -> dict[str, np.ndarray]:
        import jax
        import jax.numpy as jnp

        from backends import get_backend

        block = {k.rpartition(".")[2]: v for k, v in case.arrays.items()
                 if k.startswith("layer0.forward.")}
        tree = params_to_flax(self.kind, self.n_h, block)
        cell = self.cell_module
        lstm = self.kind == "lstm"
        with get_backend("jax").precision(case.dtype):
            params = jax.tree.map(jnp.asarray, tree)
            xs = jnp.asarray(case.arrays["inputs"])
            h0 = jnp.asarray(case.arrays["layer0.forward.h0"])
            carry0 = (jnp.asarray(case.arrays["layer0.forward.c0"]), h0) if lstm else h0
            try:
                shapes = jax.eval_shape(cell.init, jax.random.PRNGKey(0), carry0, xs[0])
            except TARGET_FAILURES as exc:
                raise OracleError(f"{self.description} raised {type(exc).__name__}: {exc}") from exc
            declared = jax.tree.map(lambda a: tuple(a.shape), dict(shapes.get("params", {})))
            given = jax.tree.map(lambda a: tuple(a.shape), params)
            if declared != given:
                raise OracleError(
                    f"{self.description}: the cell declares parameters {declared}, the "
                    f"canonical {self.spec.cell} cell gives {given}"
                )

            try:
                g, g_x, g_carry = self._pull()(params, xs, carry0, jnp.asarray(case.upstream))
            except TARGET_FAILURES as exc:
                raise OracleError(f"{self.description} raised {type(exc).__name__}: {exc}") from exc
            out = {
                f"{module}.{leaf}": to_numpy(f"grads['{module}.{leaf}']", value, case.dtype)
                for module, leaves in g.items() for leaf, value in leaves.items()
            }
            out["inputs"] = to_numpy("grads['inputs']", g_x, case.dtype)
            if lstm:
                out["c0"] = to_numpy("grads['c0']", g_carry[0], case.dtype)
                out["h0"] = to_numpy("grads['h0']", g_carry[1], case.dtype)
            else:
                out["h0"] = to_numpy("grads['h0']", g_carry, case.dtype)
        return out


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
            return _torch_user_arrays(self.spec, self.batch_first)
        spec = self.spec
        return {n: UserArray(n, n)
                for n in (*spec.param_names, *spec.initial_state_names(), "inputs")}

    def evaluate(self, case: NetworkCase) -> dict[str, np.ndarray]:
        spec = self.spec
        assert case.upstream is not None
        states: dict[str, np.ndarray]
        if self.names == "torch":
            params = params_to_torch(spec, case.arrays)
            states = states_to_torch(spec, case.arrays)
            inputs = sequence_to_torch(case.arrays["inputs"], self.batch_first)
            upstream = sequence_to_torch(case.upstream, self.batch_first)
            expected = [*params, "inputs", *states]
        else:
            params = {n: np.array(case.arrays[n], copy=True) for n in spec.param_names}
            states = {n: np.array(case.arrays[n], copy=True)
                      for n in spec.initial_state_names()}
            inputs = np.array(case.arrays["inputs"], copy=True)
            upstream = np.array(case.upstream, copy=True)
            expected = [*params, *states, "inputs"]
        raw = call_target(self.fn, (params, inputs, states, upstream), case, self.description,
                          NETWORK_PROTOCOL)
        if not isinstance(raw, Mapping):
            raise OracleError(
                f"{self.description}: expected the gradients as a dict keyed by {expected} "
                f"({self.names} names), got {type(raw).__name__}"
            )
        missing = [n for n in expected if n not in raw]
        extra = [n for n in raw if n not in expected]
        if missing or extra:
            raise OracleError(
                f"{self.description}: gradient names do not match ({self.names} names): "
                f"expected {expected}; missing {missing}, unexpected {extra}"
            )
        out = {n: to_numpy(f"grads[{n!r}]", raw[n], case.dtype) for n in expected}
        if self.names == "torch":
            split_torch_states(spec, out, self.description)
        return out


# -- dispatch ---------------------------------------------------------------------------------
def as_network_target(
    target: Any, spec: NetworkSpec | None = None, names: str = "canonical",
    batch_first: bool = False,
) -> NetworkTarget:
    """Wrap what the user passed: a NetworkTarget, a torch module, a Flax cell or a function
    in :data:`NETWORK_PROTOCOL`."""
    if isinstance(target, NetworkTarget):
        return target
    framework = framework_of(target)
    if framework is not None and (names != "canonical" or batch_first):
        raise OracleError(
            f"names, batch_first: a module's names and layout are read from it; leave them "
            f"out (got names={names!r}, batch_first={batch_first!r})"
        )
    if framework == "torch":
        return TorchNetworkTarget(target, spec)
    if framework == "flax":
        return FlaxNetworkCellTarget(target, spec)
    if not callable(target):
        raise OracleError(
            "target: expected a torch.nn.RNN/GRU/LSTM, a Flax SimpleCell/GRUCell/LSTMCell or "
            f"a function {NETWORK_PROTOCOL}, got {type(target).__name__}"
        )
    return NetworkFunctionTarget(target, spec, names, batch_first)  # type: ignore[arg-type]
