"""Canonical network parameters ↔ ``torch.nn.RNN/GRU/LSTM`` and Flax's GRU and LSTM cells.

Nothing here imports torch or Flax: modules are recognised by the classes they derive
from (``type(obj).__mro__``, module and class name, as array-api-compat does), and every
conversion works on NumPy arrays.

**torch** (``nn.RNN`` with ``tanh``/``relu``, ``nn.GRU``, ``nn.LSTM``; any ``num_layers``,
``bidirectional``, ``batch_first``; ``bias=True``): the block of layer ``k`` and direction
``d`` has torch suffix ``_l{k}`` (forward) or ``_l{k}_reverse`` (backward), and

=========================== ============================================================
torch                       canonical
=========================== ============================================================
``weight_ih_l{k}[_reverse]`` ``layer{k}.{d}.W_xh`` (gates stacked along axis 0 in torch's
                            order: GRU r, z, n; LSTM i, f, g, o — canonical uses the same)
``weight_hh_l{k}[_reverse]`` ``layer{k}.{d}.W_hh``
``bias_ih_l{k}[_reverse]``   ``b_xh`` (GRU, LSTM); vanilla: ``b_h = bias_ih + bias_hh``
``bias_hh_l{k}[_reverse]``   ``b_hh`` (GRU, LSTM); vanilla: ``b_h = bias_ih + bias_hh``
``h0[l·D + d]``              ``layer{l}.{d}.h0`` (``D`` = 2 if bidirectional, else 1; the
                            same for ``c0``)
=========================== ============================================================

For a vanilla RNN the two torch biases are one canonical ``b_h``: each receives the ``b_h``
gradient. torch's output sequence ``(T, [B,] D·n_h)`` (``(B, T, …)`` with ``batch_first``) is
the canonical ``top``: forward half first.

**Flax** (``flax.linen.GRUCell``, ``LSTMCell``, ``OptimizedLSTMCell``; 0.12): one block,
``layer0.forward.``; kernels are ``(in, out)``, so every kernel is a transposed gate block:

* GRU: ``ir, iz, in`` (kernel and bias) read the input, ``hr, hz`` (kernel only) and ``hn``
  (kernel and bias) the state: ``ir.kernel = W_xh[r]ᵀ``, ``ir.bias = b_xh[r]``, …,
  ``hn.bias = b_hh[n]``. Flax has no ``b_hr``, ``b_hz``: they are zero in the canonical
  network, and since ``r = σ(W_ir x + b_ir + W_hr h + b_hr)`` their canonical gradients
  equal those of ``ir.bias`` and ``iz.bias``.
* LSTM: ``ii, if, ig, io`` (kernel only) and ``hi, hf, hg, ho`` (kernel and bias):
  ``ii.kernel = W_xh[i]ᵀ``, ``hi.kernel = W_hh[i]ᵀ``, ``hi.bias = b_hh[i]``. Flax has no
  ``b_xh`` (zero in the canonical network; its gradient equals that of ``b_hh``). The
  carry is ``(c, h)``, torch's and the canonical order is ``(h, c)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnn_oracle.architectures.spec import GATES, NetworkSpec
from rnn_oracle.errors import OracleError

#: Architectures a framework's recurrent layer stack is: (layers > 1, bidirectional) ->.
LAYER_ARCHITECTURES: dict[tuple[bool, bool], str] = {
    (False, False): "many_to_many",
    (True, False): "stacked",
    (False, True): "bidirectional",
    (True, True): "deep_bidirectional",
}
TORCH_CLASSES: tuple[str, ...] = ("RNN", "GRU", "LSTM")
FLAX_CLASSES: dict[str, str] = {"GRUCell": "gru", "LSTMCell": "lstm", "OptimizedLSTMCell": "lstm"}


def _class_from(obj: Any, module: str, names: tuple[str, ...]) -> str | None:
    """The first class in ``type(obj)``'s MRO defined in ``module`` named one of ``names``."""
    for cls in type(obj).__mro__:
        if cls.__module__ == module and cls.__name__ in names:
            return cls.__name__
    return None


def torch_rnn_class(obj: Any) -> str | None:
    """``"RNN"``, ``"GRU"`` or ``"LSTM"`` when ``obj`` is (a subclass of) that torch module."""
    return _class_from(obj, "torch.nn.modules.rnn", TORCH_CLASSES)


def flax_cell_kind(obj: Any) -> str | None:
    """``"gru"`` or ``"lstm"`` when ``obj`` is a Flax ``GRUCell``/``LSTMCell``/
    ``OptimizedLSTMCell`` (or a subclass)."""
    name = _class_from(obj, "flax.linen.recurrent", tuple(FLAX_CLASSES))
    return None if name is None else FLAX_CLASSES[name]


def layer_network_spec(
    cell: str, n_x: int, n_h: int, num_layers: int = 1, bidirectional: bool = False
) -> NetworkSpec:
    """The layer-mode :class:`NetworkSpec` of a recurrent layer stack: no head (the
    upstream gradient of the output sequence is given), every initial state given."""
    arch = LAYER_ARCHITECTURES[(num_layers > 1, bool(bidirectional))]
    return NetworkSpec(
        architecture=arch,  # type: ignore[arg-type]
        cell=cell, n_x=n_x, n_h=n_h, n_y=1, n_layers=num_layers, head="none",
        initial_state="given",
    )


def layer_mode_spec(spec: NetworkSpec) -> NetworkSpec:
    """``spec`` as a layer-mode network (head none, sums, standard sign). Only the layer
    stacks a framework module can be — many_to_many, stacked, bidirectional,
    deep_bidirectional — have a layer mode."""
    if not isinstance(spec, NetworkSpec):
        raise OracleError(f"spec: expected a NetworkSpec, got {type(spec).__name__}")
    if spec.architecture not in LAYER_ARCHITECTURES.values():
        raise OracleError(
            f"spec.architecture: layer mode checks a stack of recurrent layers "
            f"({', '.join(LAYER_ARCHITECTURES.values())}), got {spec.architecture!r}"
        )
    return spec.replace(
        head="none", time_reduction="sum", batch_reduction="sum", loss_sign="standard",
        initial_state="given", feedback="none", n_layers=spec.layers,
    )


# -- torch ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TorchRNNLayout:
    """What a ``torch.nn.RNN/GRU/LSTM`` is, read from its attributes."""

    kind: str  #: ``RNN``, ``GRU`` or ``LSTM``
    cell: str  #: ``tanh``, ``relu``, ``gru`` or ``lstm``
    n_x: int
    n_h: int
    num_layers: int
    bidirectional: bool
    batch_first: bool

    @property
    def spec(self) -> NetworkSpec:
        return layer_network_spec(self.cell, self.n_x, self.n_h, self.num_layers,
                                  self.bidirectional)


def torch_layout(module: Any) -> TorchRNNLayout:
    """Read and validate a torch recurrent module (refuses what the canonical network is
    not: ``proj_size > 0``, ``bias=False``, dropout in train mode)."""
    kind = torch_rnn_class(module)
    name = type(module).__name__
    if kind is None:
        raise OracleError(f"{name}: expected a torch.nn.RNN, GRU or LSTM")
    if int(getattr(module, "proj_size", 0) or 0) > 0:
        raise OracleError(
            f"{name}.proj_size: expected 0 (the canonical LSTM has no projection), got "
            f"{module.proj_size}"
        )
    if not getattr(module, "bias", True):
        raise OracleError(
            f"{name}.bias: expected True (the canonical cells have biases), got False"
        )
    dropout = float(getattr(module, "dropout", 0.0) or 0.0)
    if dropout > 0 and getattr(module, "num_layers", 1) > 1 and module.training:
        raise OracleError(
            f"{name}.dropout: expected 0 in train mode (dropout between layers is random, "
            f"so its gradient has no reference), got {dropout}; switch the module to "
            "evaluation mode (module.train(False)) or set dropout to 0"
        )
    if kind == "RNN":
        cell = str(getattr(module, "nonlinearity", "tanh"))
        if cell not in ("tanh", "relu"):
            raise OracleError(f"{name}.nonlinearity: expected 'tanh' or 'relu', got {cell!r}")
    else:
        cell = kind.lower()
    return TorchRNNLayout(
        kind=kind,
        cell=cell,
        n_x=int(module.input_size),
        n_h=int(module.hidden_size),
        num_layers=int(module.num_layers),
        bidirectional=bool(module.bidirectional),
        batch_first=bool(module.batch_first),
    )


def torch_suffix(layer: int, direction: str) -> str:
    return f"_l{layer}" + ("_reverse" if direction == "backward" else "")


def torch_param_names(spec: NetworkSpec) -> dict[str, str]:
    """torch parameter name -> canonical name, in torch's parameter order (both vanilla
    biases map to ``b_h``)."""
    spec = _check_layer_spec(spec)
    gated = spec.cell in ("gru", "lstm")
    out: dict[str, str] = {}
    for block in spec.blocks():
        s = torch_suffix(block.layer, block.direction)
        out[f"weight_ih{s}"] = block.prefix + "W_xh"
        out[f"weight_hh{s}"] = block.prefix + "W_hh"
        out[f"bias_ih{s}"] = block.prefix + ("b_xh" if gated else "b_h")
        out[f"bias_hh{s}"] = block.prefix + ("b_hh" if gated else "b_h")
    return out


def torch_state_slots(spec: NetworkSpec) -> list[tuple[int, str]]:
    """``(index in torch's stacked h0, canonical block prefix)``, ``index = l·D + d``."""
    spec = _check_layer_spec(spec)
    return [(k, block.prefix) for k, block in enumerate(spec.blocks())]


def params_to_torch(spec: NetworkSpec, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Canonical parameters -> torch's (vanilla: ``bias_ih = b_h``, ``bias_hh = 0``)."""
    out = {}
    for tname, cname in torch_param_names(spec).items():
        value = np.asarray(params[cname])
        if spec.cell not in ("gru", "lstm") and tname.startswith("bias_hh"):
            value = np.zeros_like(value)
        out[tname] = np.array(value, copy=True)
    return out


def params_from_torch(spec: NetworkSpec, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """torch parameters -> canonical (vanilla: ``b_h = bias_ih + bias_hh``)."""
    names = torch_param_names(spec)
    _check_names("params", params, tuple(names))
    out: dict[str, np.ndarray] = {}
    for tname, cname in names.items():
        value = np.array(np.asarray(params[tname]), copy=True)
        out[cname] = out[cname] + value if cname in out else value
    return out


def grads_to_torch(spec: NetworkSpec, grads: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Canonical parameter gradients -> torch's: each torch bias of a vanilla RNN receives
    the ``b_h`` gradient."""
    names = torch_param_names(spec)
    return {t: np.array(np.asarray(grads[c]), copy=True) for t, c in names.items()}


def states_to_torch(spec: NetworkSpec, arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``layer{l}.{d}.h0`` (and ``c0``) -> torch's stacked ``h0`` (and ``c0``),
    ``(L·D, [B,] n_h)``."""
    slots = torch_state_slots(spec)
    return {
        f"{s}0": np.stack([np.asarray(arrays[f"{prefix}{s}0"]) for _, prefix in slots])
        for s in spec.state_names
    }


def states_from_torch(spec: NetworkSpec, states: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """torch's stacked ``h0`` (and ``c0``) -> ``layer{l}.{d}.h0`` (and ``c0``)."""
    slots = torch_state_slots(spec)
    _check_names("initial states", states, tuple(f"{s}0" for s in spec.state_names))
    out = {}
    for s in spec.state_names:
        stacked = np.asarray(states[f"{s}0"])
        if stacked.ndim < 2 or stacked.shape[0] != len(slots) or stacked.shape[-1] != spec.n_h:
            raise OracleError(
                f"{s}0: expected shape ({len(slots)}, [B,] {spec.n_h}) (layers × directions "
                f"first), got {stacked.shape}"
            )
        out.update({f"{prefix}{s}0": np.array(stacked[k], copy=True) for k, prefix in slots})
    return out


def sequence_to_torch(x: np.ndarray, batch_first: bool) -> np.ndarray:
    """A canonical ``(T, [B,] n)`` sequence in torch's layout (``(B, T, n)`` when
    ``batch_first`` and batched; torch ignores ``batch_first`` for unbatched input)."""
    x = np.asarray(x)
    return np.swapaxes(x, 0, 1).copy() if batch_first and x.ndim == 3 else np.array(x, copy=True)


def sequence_from_torch(x: np.ndarray, batch_first: bool) -> np.ndarray:
    return sequence_to_torch(x, batch_first)


# -- Flax ------------------------------------------------------------------------------------
#: Flax module name -> (canonical parameter, gate index) per cell; ``i*`` read the input.
FLAX_KERNELS: dict[str, dict[str, tuple[str, int]]] = {
    "gru": {"ir": ("W_xh", 0), "iz": ("W_xh", 1), "in": ("W_xh", 2),
            "hr": ("W_hh", 0), "hz": ("W_hh", 1), "hn": ("W_hh", 2)},
    "lstm": {"ii": ("W_xh", 0), "if": ("W_xh", 1), "ig": ("W_xh", 2), "io": ("W_xh", 3),
             "hi": ("W_hh", 0), "hf": ("W_hh", 1), "hg": ("W_hh", 2), "ho": ("W_hh", 3)},
}
FLAX_BIASES: dict[str, dict[str, tuple[str, int]]] = {
    "gru": {"ir": ("b_xh", 0), "iz": ("b_xh", 1), "in": ("b_xh", 2), "hn": ("b_hh", 2)},
    "lstm": {"hi": ("b_hh", 0), "hf": ("b_hh", 1), "hg": ("b_hh", 2), "ho": ("b_hh", 3)},
}
#: Canonical bias blocks a Flax cell does not have (zero in the canonical network).
FLAX_ABSENT: dict[str, tuple[tuple[str, int], ...]] = {
    "gru": (("b_hh", 0), ("b_hh", 1)),
    "lstm": (("b_xh", 0), ("b_xh", 1), ("b_xh", 2), ("b_xh", 3)),
}


@dataclass(frozen=True)
class FlaxArray:
    """One Flax parameter as a view of a canonical array: gate block ``gate`` of
    ``layer0.forward.{canonical}``, transposed for kernels."""

    name: str  #: ``"ir.kernel"``
    canonical: str  #: ``"W_xh"``
    gate: int
    transposed: bool


def flax_arrays(cell: str) -> list[FlaxArray]:
    if cell not in FLAX_KERNELS:
        raise OracleError(f"flax cell: expected 'gru' or 'lstm', got {cell!r}")
    out = [FlaxArray(f"{m}.kernel", c, g, True) for m, (c, g) in FLAX_KERNELS[cell].items()]
    out += [FlaxArray(f"{m}.bias", c, g, False) for m, (c, g) in FLAX_BIASES[cell].items()]
    return out


def gate_block(value: np.ndarray, gate: int, n_h: int) -> np.ndarray:
    return np.asarray(value)[gate * n_h : (gate + 1) * n_h]


def params_to_flax(
    cell: str, n_h: int, block: Mapping[str, Any]
) -> dict[str, dict[str, np.ndarray]]:
    """Canonical block parameters (unprefixed ``W_xh, W_hh, b_xh, b_hh``) -> Flax's tree.
    The canonical biases Flax lacks must be zero (:func:`flax_absent_zero`)."""
    tree: dict[str, dict[str, np.ndarray]] = {}
    for a in flax_arrays(cell):
        part = gate_block(block[a.canonical], a.gate, n_h)
        module, _, leaf = a.name.partition(".")
        tree.setdefault(module, {})[leaf] = np.array(part.T if a.transposed else part, copy=True)
    return tree


def params_from_flax(cell: str, tree: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Flax's tree -> canonical block parameters (the biases Flax lacks are zero). Also the
    map for gradients: Flax's gradients -> the canonical gradients of the parameters Flax
    has (the absent bias blocks get zero here, not their true canonical gradient)."""
    arrays = flax_arrays(cell)
    expected = sorted({a.name.partition(".")[0] for a in arrays})
    if not isinstance(tree, Mapping) or sorted(tree) != expected:
        got = sorted(tree) if isinstance(tree, Mapping) else type(tree).__name__
        raise OracleError(f"flax {cell} params: expected modules {expected}, got {got}")
    kernel = np.asarray(tree[next(iter(FLAX_KERNELS[cell]))]["kernel"])
    n_h = kernel.shape[1]
    gates = len(GATES[cell])
    out: dict[str, np.ndarray] = {}
    for a in arrays:
        module, _, leaf = a.name.partition(".")
        value = np.asarray(tree[module][leaf])
        value = value.T if a.transposed else value
        if a.canonical not in out:
            out[a.canonical] = np.zeros((gates * n_h, *value.shape[1:]), dtype=value.dtype)
        out[a.canonical][a.gate * n_h : (a.gate + 1) * n_h] = value
    bias = "b_hh" if cell == "gru" else "b_xh"
    out.setdefault(bias, np.zeros((gates * n_h,), dtype=kernel.dtype))
    return out


def flax_absent_zero(cell: str, n_h: int, block: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The block's canonical biases with the blocks Flax lacks set to zero."""
    out: dict[str, np.ndarray] = {}
    for name, gate in FLAX_ABSENT[cell]:
        value = out.get(name, np.array(np.asarray(block[name]), copy=True))
        value[gate * n_h : (gate + 1) * n_h] = 0
        out[name] = value
    return out


# -- helpers ---------------------------------------------------------------------------------
def _check_layer_spec(spec: NetworkSpec) -> NetworkSpec:
    if not isinstance(spec, NetworkSpec):
        raise OracleError(f"spec: expected a NetworkSpec, got {type(spec).__name__}")
    if spec.architecture not in LAYER_ARCHITECTURES.values():
        raise OracleError(
            f"spec.architecture: a framework layer stack is one of "
            f"{', '.join(LAYER_ARCHITECTURES.values())}, got {spec.architecture!r}"
        )
    return spec


def _check_names(what: str, given: Mapping[str, Any], expected: tuple[str, ...]) -> None:
    if not isinstance(given, Mapping):
        raise OracleError(f"{what}: expected a dict keyed by {list(expected)}, got "
                          f"{type(given).__name__}")
    missing = [n for n in expected if n not in given]
    extra = [n for n in given if n not in expected]
    if missing or extra:
        raise OracleError(
            f"{what}: expected names {list(expected)}; missing {missing}, unexpected {extra}"
        )
