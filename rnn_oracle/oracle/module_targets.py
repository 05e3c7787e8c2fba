"""Torch modules and Flax cells as targets: ``nn.RNN``/``GRU``/``LSTM`` with any number of
layers, either direction count, ``batch_first`` either way (or a module with their
parameter names), and Flax ``SimpleCell``/``GRUCell``/``LSTMCell``/``OptimizedLSTMCell``.

What a module is, and how its names and layouts map to the canonical network's, is read by
:mod:`rnn_oracle.architectures.frameworks`; these classes only run it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from rnn_oracle.architectures.case import NetworkCase
from rnn_oracle.architectures.frameworks import (
    flax_absent_zero,
    flax_arrays,
    flax_layout,
    layer_mode_spec,
    params_to_flax,
    params_to_torch,
    sequence_to_torch,
    split_torch_states,
    states_to_torch,
    torch_layout,
    torch_param_names,
)
from rnn_oracle.architectures.spec import GATES, NetworkSpec
from rnn_oracle.errors import OracleError
from rnn_oracle.oracle.targets import (
    DEFAULT_SIZES,
    TARGET_FAILURES,
    NetworkTarget,
    UserArray,
    to_numpy,
    torch_user_arrays,
)
from rnn_oracle.spec import CELLS as VANILLA_CELLS


def module_target(
    framework: str, module: Any, spec: NetworkSpec | None, names: Mapping[str, str] | None
) -> NetworkTarget:
    """The target of a torch module or a Flax cell (``framework``: ``"torch"``/``"flax"``);
    ``names``: a torch module's own parameter names -> torch's or canonical ones."""
    if framework == "torch":
        return TorchModuleTarget(module, spec, names)
    if names is not None:
        raise OracleError("names: a Flax cell's parameters are Flax's own; leave names out")
    return FlaxCellTarget(module, spec)


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



# -- torch modules ----------------------------------------------------------------------------
class TorchModuleTarget(NetworkTarget):
    """A torch recurrent module (:func:`~rnn_oracle.architectures.frameworks.torch_layout`)
    called as ``module(x, h0)`` (LSTM: ``module(x, (h0, c0))``) -> ``(out, h_n)``;
    ``upstream`` is backpropagated through ``out``. The oracle works on a deep copy: the
    user's module keeps its weights, dtype, ``requires_grad``, ``.grad`` and training
    state. A module without biases is the canonical network with zero biases."""

    convention = "torch"

    def __init__(
        self, module: Any, spec: NetworkSpec | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.layout = layout = torch_layout(module, names)
        self.module = module
        self.batch_first = layout.batch_first
        self.spec = _check_spec(spec, layout.spec, layout.class_name, layout.cell_stated)
        self.description = layout.description

    def user_arrays(self) -> dict[str, UserArray]:
        arrays = torch_user_arrays(self.spec, self.batch_first, self.layout.bias)
        return {self.layout.own_name(n): dataclasses.replace(a, name=self.layout.own_name(n))
                for n, a in arrays.items()}

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
                own = named[self.layout.own_name(name)]
                own.copy_(torch.from_numpy(np.ascontiguousarray(value)))
                own.requires_grad_(True)
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
                wrt = [named[self.layout.own_name(n)] for n in values] + [x, *states.values()]
                grads = torch.autograd.grad(out, wrt, grad_outputs=upstream, allow_unused=True)
        except OracleError:
            raise
        except TARGET_FAILURES as exc:
            raise OracleError(
                f"{self.description} raised {type(exc).__name__}: {exc} ({where}; called as "
                f"{protocol})"
            ) from exc
        names = [*map(self.layout.own_name, values), "inputs", *states]
        raw: dict[str, Any] = {}
        for n, g, w in zip(names, grads, wrt, strict=True):
            # An unused input has no gradient: it is zero, which the comparison then judges.
            raw[n] = to_numpy(f"grads[{n!r}]", g if g is not None else torch.zeros_like(w),
                              case.dtype)
        split_torch_states(spec, raw, self.description)
        return raw


# -- Flax cells -------------------------------------------------------------------------------
class FlaxCellTarget(NetworkTarget):
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


