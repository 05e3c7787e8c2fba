"""Reading torch and Flax recurrent modules: what a module is, its sizes, cell, layers,
directions and ``batch_first``, and its names and layouts ↔ the canonical network's. The
one place that knows the frameworks; the oracle's targets only call into it.

Nothing here imports torch or Flax: modules are recognised by the classes they derive
from (``type(obj).__mro__``, module and class name, as array-api-compat does), and every
conversion works on NumPy arrays.

**torch** (``nn.RNN`` with ``tanh``/``relu``, ``nn.GRU``, ``nn.LSTM``; any ``num_layers``,
``bidirectional``, ``batch_first``, ``bias``; or any ``nn.Module`` with their parameter
names, read by the names and shapes; such a module must say ``batch_first`` as an
attribute, and a vanilla one its ``nonlinearity``, or a ``NetworkSpec`` its cell: neither is
assumed): the block of layer ``k`` and direction
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

**Flax** (``flax.linen.SimpleCell``, ``GRUCell``, ``LSTMCell``, ``OptimizedLSTMCell``; 0.12):
one block, ``layer0.forward.``; kernels are ``(in, out)``, so every kernel is a transposed
gate block:

* SimpleCell (its ``activation_fn`` tanh, sigmoid or relu is the cell): ``i.kernel = W_xhᵀ``,
  ``i.bias = b_h``, ``h.kernel = W_hhᵀ``.
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

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
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
#: torch's recurrent class by the number of gate blocks stacked in ``weight_hh_l0``.
TORCH_GATE_COUNTS: dict[int, str] = {1: "RNN", 3: "GRU", 4: "LSTM"}
#: Flax cell class -> kind (``simple``: a vanilla cell whose activation is read from it).
FLAX_CLASSES: dict[str, str] = {
    "SimpleCell": "simple", "GRUCell": "gru", "LSTMCell": "lstm", "OptimizedLSTMCell": "lstm",
}
#: The activations a SimpleCell may have, by ``activation_fn.__name__`` (the canonical cells).
FLAX_ACTIVATIONS: tuple[str, ...] = ("tanh", "sigmoid", "relu")


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
    """``"simple"``, ``"gru"`` or ``"lstm"`` when ``obj`` is a Flax ``SimpleCell``/
    ``GRUCell``/``LSTMCell``/``OptimizedLSTMCell`` (or a subclass)."""
    name = _class_from(obj, "flax.linen.recurrent", tuple(FLAX_CLASSES))
    return None if name is None else FLAX_CLASSES[name]


def framework_of(obj: Any) -> str | None:
    """``"torch"`` for any ``torch.nn.Module``, ``"flax"`` for any Flax recurrent cell
    (``RNNCellBase``), else ``None``. What the module is exactly, :func:`torch_layout` and
    :func:`flax_layout` read (and refuse)."""
    if _class_from(obj, "torch.nn.modules.module", ("Module",)) is not None:
        return "torch"
    if _class_from(obj, "flax.linen.recurrent", ("RNNCellBase",)) is not None:
        return "flax"
    return None


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
    return _check_layer_spec(spec).replace(
        head="none", time_reduction="sum", batch_reduction="sum", loss_sign="standard",
        feedback="none", n_layers=spec.layers,
    )


# -- torch ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TorchRNNLayout:
    """What a torch recurrent module is, read from its attributes and parameters."""

    kind: str  #: ``RNN``, ``GRU`` or ``LSTM``
    cell: str  #: ``tanh``, ``relu``, ``gru`` or ``lstm``
    n_x: int
    n_h: int
    num_layers: int
    bidirectional: bool
    batch_first: bool
    bias: bool = True
    class_name: str = ""  #: the module's own class (``TamperedGRU``), for messages
    cell_stated: bool = True  #: False: a vanilla module without ``nonlinearity`` (a spec says it)
    #: torch's parameter name -> the module's own, where they differ (``names=``, inferred)
    rename: dict[str, str] = field(default_factory=dict)

    def own_name(self, torch_name: str) -> str:
        """The module's name for torch's parameter ``torch_name``."""
        return self.rename.get(torch_name, torch_name)

    @property
    def spec(self) -> NetworkSpec:
        return layer_network_spec(self.cell, self.n_x, self.n_h, self.num_layers,
                                  self.bidirectional)

    @property
    def param_names(self) -> dict[str, str]:
        """torch parameter name -> canonical name, of the parameters the module has."""
        return torch_param_names(self.spec, self.bias)

    @property
    def description(self) -> str:
        """``LSTM(3, 4, num_layers=2, bidirectional=True)``, as the module would be built."""
        options = ((self.num_layers > 1, f"num_layers={self.num_layers}"),
                   (not self.bias, "bias=False"), (self.batch_first, "batch_first=True"),
                   (self.bidirectional, "bidirectional=True"),
                   (self.kind == "RNN" and self.cell != "tanh", f"nonlinearity={self.cell!r}"))
        text = ", ".join([f"{self.kind}({self.n_x}, {self.n_h}",
                          *(option for given, option in options if given)]) + ")"
        return text if self.class_name in ("", self.kind) else f"{self.class_name} (as {text})"


#: A torch RNN parameter name: ``weight_ih_l0``, ``bias_hh_l1_reverse``.
TORCH_NAME = re.compile(r"(weight|bias)_(ih|hh)_l\d+(_reverse)?")
#: Canonical block parameter -> torch's parameter stem (vanilla ``b_h`` is torch's two).
TORCH_STEMS: dict[str, str] = {"W_xh": "weight_ih", "W_hh": "weight_hh", "b_xh": "bias_ih",
                               "b_hh": "bias_hh"}


def torch_names_of(module: Any, names: Mapping[str, str] | None) -> dict[str, str]:
    """The module's parameter name -> torch's, from ``names`` (each value torch's name,
    ``weight_hh_l0``, or a canonical one, ``layer0.forward.W_hh``), else inferred where the
    shapes decide (:func:`infer_torch_names`), else the identity."""
    cls = type(module).__name__
    shapes = {n: tuple(int(d) for d in p.shape) for n, p in module.named_parameters()}
    if names is None:
        if torch_rnn_class(module) is not None or any(TORCH_NAME.fullmatch(n) for n in shapes):
            return {n: n for n in shapes}  # torch's names: checked as such, extras named
        return infer_torch_names(cls, shapes)
    if not isinstance(names, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
        raise OracleError(f"names: expected a mapping of the module's parameter names to "
                          f"torch's or canonical names, got {names!r}")
    unknown = [k for k in names if k not in shapes]
    if unknown:
        raise OracleError(f"names: {cls} has no parameter {unknown[0]!r}; its parameters are "
                          f"{list(shapes)}")
    out = {n: n for n in shapes}
    for own, given in names.items():
        out[own] = _torch_name(given, own)
    return out


def _torch_name(given: str, own: str) -> str:
    if TORCH_NAME.fullmatch(given):
        return given
    parts = given.split(".")
    if len(parts) == 3 and re.fullmatch(r"layer\d+", parts[0]) and parts[2] in TORCH_STEMS \
            and parts[1] in ("forward", "backward"):
        return (f"{TORCH_STEMS[parts[2]]}_l{parts[0][5:]}"
                + ("_reverse" if parts[1] == "backward" else ""))
    raise OracleError(
        f"names[{own!r}]: expected torch's name (weight_ih_l0, bias_hh_l1_reverse, …) or a "
        f"canonical one (layer0.forward.W_xh, layer1.backward.b_hh, …), got {given!r}"
    )


def infer_torch_names(cls: str, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, str]:
    """Torch's names for a one-layer, one-direction module with names of its own, where the
    shapes decide: two weights with the same ``G·n_h`` rows, of which only the recurrent one
    is ``(G·n_h, n_h)``, and no bias or two. The two biases of a vanilla RNN or an LSTM enter
    only as their sum, so their order does not change any gradient; a GRU's do, and are
    told apart by ``ih``/``hh`` in their names or not at all. Anything else asks for
    ``names=``."""
    def ask(reason: str) -> OracleError:
        return OracleError(
            f"{cls}: expected a torch.nn.RNN, GRU or LSTM, or a module with their parameter "
            f"names (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0) or its own; its "
            f"parameters {dict(shapes)} are not torch's, and {reason}: say which is which "
            "with names={'yours': 'weight_ih_l0', …} (or canonical names, layer0.forward.W_xh)"
        )

    weights = [n for n, s in shapes.items() if len(s) == 2]
    biases = [n for n, s in shapes.items() if len(s) == 1]
    if len(weights) != 2 or len(biases) not in (0, 2) or len(shapes) != len(weights) + len(biases):
        raise ask("the shapes alone do not decide (one layer and direction, two weights "
                  "and no bias or two, is what is inferred)")
    rows = {shapes[n][0] for n in weights} | {shapes[n][0] for n in biases}
    recurrent = [n for n in weights if shapes[n][0] % shapes[n][1] == 0
                 and shapes[n][0] // shapes[n][1] in TORCH_GATE_COUNTS]
    if len(rows) != 1:
        raise ask("their leading sizes differ, as no RNN's gate blocks do")
    if len(recurrent) != 1:
        raise ask("the shapes alone do not decide which weight is recurrent")
    (w_hh,) = recurrent
    (w_ih,) = [n for n in weights if n != w_hh]
    out = {w_ih: "weight_ih_l0", w_hh: "weight_hh_l0"}
    if biases:
        gates = rows.pop() // shapes[w_hh][1]
        tagged = {b: ("ih" in b.lower(), "hh" in b.lower()) for b in biases}
        ih = [b for b, (i, h) in tagged.items() if i and not h]
        hh = [b for b, (i, h) in tagged.items() if h and not i]
        if len(ih) == 1 and len(hh) == 1:
            out.update({ih[0]: "bias_ih_l0", hh[0]: "bias_hh_l0"})
        elif TORCH_GATE_COUNTS[gates] != "GRU":
            out.update({biases[0]: "bias_ih_l0", biases[1]: "bias_hh_l0"})  # only the sum counts
        else:
            raise ask(f"a GRU's two biases differ (b_hn sits inside r ∘ (…)), and the names "
                      f"{biases} do not say which is which")
    return out


def torch_layout(module: Any, names: Mapping[str, str] | None = None) -> TorchRNNLayout:
    """Read and validate a torch recurrent module: an ``nn.RNN``/``GRU``/``LSTM`` (or a
    subclass) by its attributes, any other ``nn.Module`` by its parameter names and shapes
    — torch's, or its own with ``names`` (see :func:`torch_names_of`). Refuses what the
    canonical network is not (``proj_size > 0``, dropout in train mode, an unknown
    nonlinearity) and parameters whose names or shapes are not torch's."""
    name = type(module).__name__
    kind = torch_rnn_class(module)
    to_torch = torch_names_of(module, names)
    if len(set(to_torch.values())) != len(to_torch):
        twice = [t for t in to_torch.values() if list(to_torch.values()).count(t) > 1]
        raise OracleError(f"names: two of {name}'s parameters are named {twice[0]!r}")
    rename = {t: own for own, t in to_torch.items() if t != own}
    shapes = {to_torch[n]: tuple(int(d) for d in p.shape) for n, p in module.named_parameters()}
    nonlinearity = getattr(module, "nonlinearity", None)
    if kind is not None:
        n_x, n_h = int(module.input_size), int(module.hidden_size)
        num_layers, bidirectional = int(module.num_layers), bool(module.bidirectional)
        bias = bool(module.bias)
    else:
        w_ih, w_hh = shapes.get("weight_ih_l0", ()), shapes.get("weight_hh_l0", ())
        if len(w_ih) != 2 or len(w_hh) != 2 or w_hh[1] < 1:
            raise OracleError(
                f"{name}: expected a torch.nn.RNN, GRU or LSTM, or a module with their "
                f"parameter names (weight_ih_l0, weight_hh_l0, bias_ih_l0, …); got parameters "
                f"{list(shapes)}"
            )
        n_x, n_h = w_ih[1], w_hh[1]
        kind = TORCH_GATE_COUNTS.get(w_hh[0] // n_h) if w_hh[0] % n_h == 0 else None
        if kind is None:
            raise OracleError(
                f"{name}.weight_hh_l0: expected shape (G·n_h, n_h) with G = 1 (RNN), 3 (GRU) "
                f"or 4 (LSTM) gate blocks, got {w_hh}"
            )
        num_layers = next(k for k in range(len(shapes) + 1) if f"weight_ih_l{k}" not in shapes)
        bidirectional = "weight_ih_l0_reverse" in shapes
        bias = "bias_ih_l0" in shapes
    if int(getattr(module, "proj_size", 0) or 0) > 0:
        raise OracleError(
            f"{name}.proj_size: expected 0 (the canonical LSTM has no projection), got "
            f"{module.proj_size}"
        )
    if not hasattr(module, "batch_first"):
        # an axis order changes every array: asked for, never assumed
        raise OracleError(
            f"{name}.batch_first: the module has no batch_first attribute, so its axis order "
            "is unknown; set it (module.batch_first = False for (T, B, n_x) inputs, True for "
            "(B, T, n_x)), as nn.RNN has it"
        )
    dropout = float(getattr(module, "dropout", 0.0) or 0.0)
    if dropout > 0 and num_layers > 1 and module.training:
        raise OracleError(
            f"{name}.dropout: expected 0 in train mode (dropout between layers is random, "
            f"so its gradient has no reference), got {dropout}; switch the module to "
            "evaluation mode (module.train(False)) or set dropout to 0"
        )
    # an unstated vanilla cell is a placeholder here: the check refuses it without a spec
    cell = str(nonlinearity or "tanh") if kind == "RNN" else kind.lower()
    if cell not in ("tanh", "relu", "gru", "lstm"):
        raise OracleError(f"{name}.nonlinearity: expected 'tanh' or 'relu', got {cell!r}")
    layout = TorchRNNLayout(
        kind=kind, cell=cell, n_x=n_x, n_h=n_h, num_layers=num_layers,
        bidirectional=bidirectional, batch_first=bool(module.batch_first),
        bias=bias, class_name=name, cell_stated=kind != "RNN" or nonlinearity is not None,
        rename=rename,
    )
    expected = layout.param_names
    missing = [n for n in expected if n not in shapes]
    extra = [n for n in shapes if n not in expected]
    if missing or extra:
        raise OracleError(
            f"{name}: parameter names do not match torch's {layout.description}: expected "
            f"{list(expected)}; missing {missing}, unexpected {extra}"
        )
    canonical = layout.spec.param_shapes()
    for tname, cname in expected.items():
        if shapes[tname] != canonical[cname]:
            raise OracleError(
                f"{name}.{tname}: expected shape {canonical[cname]} (torch's "
                f"{layout.description}), got {shapes[tname]}"
            )
    return layout


def torch_suffix(layer: int, direction: str) -> str:
    return f"_l{layer}" + ("_reverse" if direction == "backward" else "")


def torch_param_names(spec: NetworkSpec, bias: bool = True) -> dict[str, str]:
    """torch parameter name -> canonical name, in torch's parameter order (both vanilla
    biases map to ``b_h``; ``bias=False``: the weights only)."""
    spec = _check_layer_spec(spec)
    gated = spec.cell in ("gru", "lstm")
    out: dict[str, str] = {}
    for block in spec.blocks():
        s = torch_suffix(block.layer, block.direction)
        out[f"weight_ih{s}"] = block.prefix + "W_xh"
        out[f"weight_hh{s}"] = block.prefix + "W_hh"
        if bias:
            out[f"bias_ih{s}"] = block.prefix + ("b_xh" if gated else "b_h")
            out[f"bias_hh{s}"] = block.prefix + ("b_hh" if gated else "b_h")
    return out


def torch_state_slots(spec: NetworkSpec) -> list[tuple[int, str]]:
    """``(index in torch's stacked h0, canonical block prefix)``, ``index = l·D + d``."""
    spec = _check_layer_spec(spec)
    return [(k, block.prefix) for k, block in enumerate(spec.blocks())]


def params_to_torch(
    spec: NetworkSpec, params: Mapping[str, Any], bias: bool = True
) -> dict[str, np.ndarray]:
    """Canonical parameters -> torch's (vanilla: ``bias_ih = b_h``, ``bias_hh = 0``)."""
    out = {}
    for tname, cname in torch_param_names(spec, bias).items():
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


def split_torch_states(spec: NetworkSpec, grads: dict[str, Any], what: str) -> None:
    """Replace torch's stacked ``h0``/``c0`` (gradients) by their slices ``h0[k]``, in
    place (``k = l·D + d``, :func:`torch_state_slots`)."""
    slots = torch_state_slots(spec)
    for s in spec.state_names:
        key = f"{s}0"
        if key not in grads:
            continue
        stacked = grads.pop(key)
        if stacked.ndim < 1 or stacked.shape[0] != len(slots):
            raise OracleError(
                f"{what}: grads[{key!r}]: expected torch's stacked shape ({len(slots)}, "
                f"[B,] {spec.n_h}) (layers × directions first), got {tuple(stacked.shape)}"
            )
        for k, _ in slots:
            grads[f"{key}[{k}]"] = stacked[k]


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
    "simple": {"i": ("W_xh", 0), "h": ("W_hh", 0)},
    "gru": {"ir": ("W_xh", 0), "iz": ("W_xh", 1), "in": ("W_xh", 2),
            "hr": ("W_hh", 0), "hz": ("W_hh", 1), "hn": ("W_hh", 2)},
    "lstm": {"ii": ("W_xh", 0), "if": ("W_xh", 1), "ig": ("W_xh", 2), "io": ("W_xh", 3),
             "hi": ("W_hh", 0), "hf": ("W_hh", 1), "hg": ("W_hh", 2), "ho": ("W_hh", 3)},
}
FLAX_BIASES: dict[str, dict[str, tuple[str, int]]] = {
    "simple": {"i": ("b_h", 0)},
    "gru": {"ir": ("b_xh", 0), "iz": ("b_xh", 1), "in": ("b_xh", 2), "hn": ("b_hh", 2)},
    "lstm": {"hi": ("b_hh", 0), "hf": ("b_hh", 1), "hg": ("b_hh", 2), "ho": ("b_hh", 3)},
}
#: Canonical bias blocks a Flax cell does not have (zero in the canonical network).
FLAX_ABSENT: dict[str, tuple[tuple[str, int], ...]] = {
    "simple": (),
    "gru": (("b_hh", 0), ("b_hh", 1)),
    "lstm": (("b_xh", 0), ("b_xh", 1), ("b_xh", 2), ("b_xh", 3)),
}


@dataclass(frozen=True)
class FlaxCellLayout:
    """What a Flax recurrent cell is, read from its attributes."""

    kind: str  #: ``simple``, ``gru`` or ``lstm`` (the keys of the name maps)
    cell: str  #: ``tanh``, ``sigmoid``, ``relu`` (SimpleCell), ``gru`` or ``lstm``
    n_h: int
    class_name: str

    def spec(self, n_x: int) -> NetworkSpec:
        return layer_network_spec(self.cell, n_x, self.n_h)

    @property
    def description(self) -> str:
        activation = f", activation_fn={self.cell}" if self.kind == "simple" else ""
        return f"flax {self.class_name}(features={self.n_h}{activation})"


def _fn_name(fn: Any) -> str:
    return str(getattr(fn, "__name__", repr(fn)))


def flax_layout(cell: Any) -> FlaxCellLayout:
    """Read and validate a Flax cell: a ``SimpleCell`` is the vanilla cell its
    ``activation_fn`` names (tanh, sigmoid or relu; ``residual`` refused); a GRU or LSTM
    cell must keep torch's equations (``gate_fn`` sigmoid, ``activation_fn`` tanh)."""
    name = type(cell).__name__
    kind = flax_cell_kind(cell)
    if kind is None:
        raise OracleError(
            f"{name}: expected a Flax SimpleCell, GRUCell, LSTMCell or OptimizedLSTMCell"
        )
    if kind == "simple":
        if getattr(cell, "residual", False):
            raise OracleError(
                f"{name}.residual: expected False (the canonical cell adds no h_(t-1) after "
                "the sum), got True"
            )
        activation = _fn_name(cell.activation_fn)
        if activation not in FLAX_ACTIVATIONS:
            raise OracleError(
                f"{name}.activation_fn: expected {', '.join(FLAX_ACTIVATIONS[:-1])} or "
                f"{FLAX_ACTIVATIONS[-1]} (by its __name__), got {activation}"
            )
        return FlaxCellLayout(kind, activation, int(cell.features), name)
    for attr, expected in (("gate_fn", "sigmoid"), ("activation_fn", "tanh")):
        got = _fn_name(getattr(cell, attr, None))
        if got != expected:
            raise OracleError(
                f"{name}.{attr}: expected {expected} (torch's equations), got {got}"
            )
    return FlaxCellLayout(kind, kind, int(cell.features), name)


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
        raise OracleError(f"flax cell: expected 'simple', 'gru' or 'lstm', got {cell!r}")
    out = [FlaxArray(f"{m}.kernel", c, g, True) for m, (c, g) in FLAX_KERNELS[cell].items()]
    out += [FlaxArray(f"{m}.bias", c, g, False) for m, (c, g) in FLAX_BIASES[cell].items()]
    return out


def gate_block(value: np.ndarray, gate: int, n_h: int) -> np.ndarray:
    return np.asarray(value)[gate * n_h : (gate + 1) * n_h]


def params_to_flax(
    cell: str, n_h: int, block: Mapping[str, Any]
) -> dict[str, dict[str, np.ndarray]]:
    """Canonical block parameters (unprefixed ``W_xh, W_hh, b_xh, b_hh``; a SimpleCell's
    ``b_h``) -> Flax's tree of the cell kind ``cell`` (``simple``, ``gru``, ``lstm``).
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
    gates = len(GATES.get(cell, ("a",)))
    out: dict[str, np.ndarray] = {}
    for a in arrays:
        module, _, leaf = a.name.partition(".")
        value = np.asarray(tree[module][leaf])
        value = value.T if a.transposed else value
        if a.canonical not in out:
            out[a.canonical] = np.zeros((gates * n_h, *value.shape[1:]), dtype=value.dtype)
        out[a.canonical][a.gate * n_h : (a.gate + 1) * n_h] = value
    for bias, _ in FLAX_ABSENT[cell]:
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
            f"spec.architecture: layer mode checks a stack of recurrent layers "
            f"({', '.join(LAYER_ARCHITECTURES.values())}), got {spec.architecture!r}"
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
