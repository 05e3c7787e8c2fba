"""Campaign targets: correct implementations, the mutants made from them, and the random
case parameters each family is checked on.

Every job is ``(family, dtype, index)``; its parameters come from
``numpy.random.default_rng([base_seed, family number, dtype number, index])``, so a job is
reproducible on its own. The space is that of :func:`rnn_oracle.strategies.check_options`
(sizes 1–6, every head, sign, reduction and input kind the convention can express,
``T`` in 1–50, weight scales in [0.25, 4] for saturating cells and [0.25, 1.2] for relu and
identity, which explode instead), extended to torch stacks and Flax cells.

Mutants (each changes one returned gradient of a correct target; the recurrent weight in
the target's own name and layout: ``W`` for dlbook, ``Whh`` for Karpathy, ``Wh`` for
CS231n, ``weight_hh_l0`` for torch):

* ``zero``: the recurrent weight's gradient is all zeros;
* ``transposed``: it is transposed (torch GRU/LSTM: each gate block transposed);
* ``one_percent``: its largest-magnitude entry is 1 % too large;
* ``last_step``: it holds only the contribution of the **last** time step ``T − 1``
  (``δa_{T−1} h_{T−2}ᵀ``), the result of ``dW = …`` instead of ``dW += …`` in a forward
  accumulation loop. NumPy targets get it by calling the correct function on the last step
  alone from the true state ``h_{T−2}``; torch stacks by running the stack with
  ``weight_hh_l0`` detached and adding a zero-valued term through which the gradient of
  ``weight_hh_l0`` flows from its last step only.

Flax cells are checked for false alarms only (no mutant wrapper: the oracle owns the loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import rnn_oracle as ro
from tests.rnn_oracle.oracle.corpus import cs231n, general, karpathy

MUTATIONS: tuple[str, ...] = ("zero", "transposed", "one_percent", "last_step")
DTYPES: tuple[str, ...] = ("float64", "float32")
CELLS: tuple[str, ...] = ("tanh", "sigmoid", "relu", "identity")

#: A mutant is *applicable* on a case where its gradient differs from the correct one by
#: more than this fraction of the correct gradient's largest entry (a transpose of a 1×1
#: matrix or a last-step-only gradient of a one-step sequence is not a bug there).
APPLICABLE = 5e-3

#: Set by the mutant wrappers while a check runs, read by the worker: whether some call
#: returned a gradient that differs materially from the correct one.
DIFFERS: dict[str, bool] = {}


@dataclass(frozen=True)
class Family:
    name: str
    share: float  #: share of the requested cases
    mutants: bool = True


FAMILIES: tuple[Family, ...] = (
    Family("numpy dlbook model", 0.32),
    Family("numpy dlbook layer", 0.32),
    Family("numpy karpathy model", 0.10),
    Family("numpy cs231n layer", 0.21),
    Family("torch RNN", 0.02),
    Family("torch GRU", 0.015),
    Family("torch LSTM", 0.015),
    Family("flax GRUCell", 0.001, mutants=False),
    Family("flax LSTMCell", 0.001, mutants=False),
)
FAMILY_INDEX = {f.name: i for i, f in enumerate(FAMILIES)}
FAMILY_BY_NAME = {f.name: f for f in FAMILIES}


@dataclass
class Job:
    family: str
    dtype: str
    index: int
    base_seed: int
    power: bool  #: run the mutants on this case too


@dataclass
class Planned:
    """A drawn case: how to build the target and the keyword arguments of the check."""

    make: Callable[[str | None], Any]  #: mutation (None: correct) -> target
    kwargs: dict[str, Any]
    repro: Callable[[], str]  #: the exact call, as code
    meta: dict[str, Any] = field(default_factory=dict)


def _rng(job: Job) -> np.random.Generator:
    return np.random.default_rng(
        [job.base_seed, FAMILY_INDEX[job.family], DTYPES.index(job.dtype), job.index]
    )


def _scale(rng: np.random.Generator, cell: str) -> float:
    top = 4.0 if cell in ("tanh", "sigmoid", "gru", "lstm") else 1.2
    return round(float(rng.uniform(0.25, top)), 4)


def _common(rng: np.random.Generator, job: Job, cell: str, batch: int | None) -> dict[str, Any]:
    return {
        "cases": 1,
        "dtype": job.dtype,
        "seed": int(rng.integers(0, 2**31 - 1)),
        "seq_len": int(rng.integers(1, 51)),
        "batch": batch,
        "scale": _scale(rng, cell),
        "diagnose_failures": False,
    }


def _kwargs_code(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


# -- mutating a gradient ------------------------------------------------------------------
def _largest_up(g: np.ndarray) -> np.ndarray:
    out = np.array(g, copy=True)
    idx = np.unravel_index(int(np.argmax(np.abs(out))), out.shape)
    out[idx] = out[idx] * out.dtype.type(1.01)
    return out


def _record(mutation: str, right: np.ndarray, wrong: np.ndarray) -> None:
    r = np.asarray(right, dtype=np.float64)
    size = float(np.max(np.abs(r), initial=0.0))
    moved = float(np.max(np.abs(np.asarray(wrong, dtype=np.float64) - r), initial=0.0))
    DIFFERS[mutation] = DIFFERS.get(mutation, False) or moved > APPLICABLE * size


def _mutate_numpy(mutation: str, g: np.ndarray, last: Callable[[], np.ndarray]) -> np.ndarray:
    if mutation == "zero":
        out = np.zeros_like(g)
    elif mutation == "transposed":
        out = np.ascontiguousarray(g.T)
    elif mutation == "one_percent":
        out = _largest_up(g)
    else:
        out = np.asarray(last(), dtype=g.dtype).reshape(g.shape)
    _record(mutation, g, out)
    return out


# -- NumPy: dlbook (general corpus), model and layer mode -----------------------------------
def _dlbook_states(spec: ro.RNNSpec, params: dict[str, Any], x: Any, h0: Any) -> Any:
    """``h_{T−2}`` in ``h0``'s layout (``h0`` itself when ``T = 1``)."""
    batched = np.ndim(h0) == 2
    T = len(x)
    if spec.inputs == "indices":
        eye = np.eye(spec.n_x, dtype=params["W"].dtype)
        xs = [eye[np.atleast_1d(x[t])].T for t in range(T)]
    else:
        xs = general._columns(x, spec.n_x, batched)
    h = (h0.T if batched else h0.reshape(-1, 1)).astype(params["W"].dtype)
    for t in range(T - 1):
        h = general._phi(spec.cell, params["W"] @ h + params["U"] @ xs[t] + params["b"][:, None])
    return h.T if batched else h[:, 0]


def _dlbook(job: Job, mode: str) -> Planned:
    rng = _rng(job)
    cell = CELLS[int(rng.integers(len(CELLS)))]
    head = "none" if mode == "layer" else ("softmax_ce", "linear_mse")[int(rng.integers(2))]
    n_y = int(rng.integers(2 if head == "softmax_ce" else 1, 7))
    spec = ro.RNNSpec(
        cell=cell,  # type: ignore[arg-type]
        n_x=int(rng.integers(1, 7)), n_h=int(rng.integers(1, 7)), n_y=n_y,
        head=head,  # type: ignore[arg-type]
        loss_sign=("standard", "negated")[int(rng.integers(2))],
        time_reduction=("sum", "mean")[int(rng.integers(2))],
        batch_reduction=("sum", "mean")[int(rng.integers(2))],
        inputs=("dense", "one_hot")[int(rng.integers(2))],
        initial_state=("zero", "given")[int(rng.integers(2))],
    )
    # dlbook uses column vectors: unbatched, as check_options draws it.
    kwargs = {"convention": "dlbook", "spec": spec, "mode": mode,
              **_common(rng, job, cell, None)}
    correct = general.make(spec, mode)

    def make(mutation: str | None) -> Any:
        if mutation is None:
            return correct
        if mode == "model":
            def model_fn(params: Any, x: Any, y: Any, h0: Any) -> Any:
                loss, grads = correct(params, x, y, h0)

                def last() -> np.ndarray:
                    h = _dlbook_states(spec, params, x, h0)
                    g = correct(params, x[-1:], y[-1:], h)[1]["W"]
                    return g / len(x) if spec.time_reduction == "mean" else g

                grads = {**grads, "W": _mutate_numpy(mutation, grads["W"], last)}
                return loss, grads
            return model_fn

        def layer_fn(params: Any, x: Any, h0: Any, upstream: Any) -> Any:
            grads = correct(params, x, h0, upstream)

            def last() -> np.ndarray:
                h = _dlbook_states(spec, params, x, h0)
                return np.asarray(correct(params, x[-1:], h, upstream[-1:])["W"])

            return {**grads, "W": _mutate_numpy(mutation, grads["W"], last)}
        return layer_fn

    def repro() -> str:
        return ("from tests.rnn_oracle.oracle.corpus import general; "
                f"ro.check_gradients(general.make({spec!r}, {mode!r}), {_kwargs_code(kwargs)})")

    return Planned(make, kwargs, repro, {"cell": cell})


# -- NumPy: Karpathy's min-char-rnn lossFun (tanh, model mode) ---------------------------------
def _karpathy(job: Job) -> Planned:
    rng = _rng(job)
    spec = ro.RNNSpec(cell="tanh", n_x=int(rng.integers(2, 7)), n_h=int(rng.integers(1, 7)),
                      n_y=int(rng.integers(2, 7)), head="softmax_ce", inputs="indices")
    spec = spec.replace(n_y=spec.n_x)  # a character model predicts its own vocabulary
    kwargs = {"convention": "karpathy", "spec": spec, **_common(rng, job, "tanh", None)}
    correct = karpathy.make()

    def make(mutation: str | None) -> Any:
        if mutation is None:
            return correct

        def fn(params: Any, inputs: Any, targets: Any, hprev: Any) -> Any:
            loss, grads = correct(params, inputs, targets, hprev)

            def last() -> np.ndarray:
                h = np.array(hprev, copy=True)
                vocab = params["Wxh"].shape[1]
                for t in range(len(inputs) - 1):
                    x = np.zeros((vocab, 1), dtype=params["Wxh"].dtype)
                    x[inputs[t]] = 1
                    h = np.tanh(params["Wxh"] @ x + params["Whh"] @ h + params["bh"])
                return np.asarray(correct(params, inputs[-1:], targets[-1:], h)[1]["Whh"])

            return loss, {**grads, "Whh": _mutate_numpy(mutation, grads["Whh"], last)}
        return fn

    def repro() -> str:
        return ("from tests.rnn_oracle.oracle.corpus import karpathy; "
                f"ro.check_gradients(karpathy.make(), {_kwargs_code(kwargs)})")

    return Planned(make, kwargs, repro, {"cell": "tanh"})


# -- NumPy: CS231n rnn_layers (tanh, layer mode, row vectors) ---------------------------------
def _cs231n(job: Job) -> Planned:
    rng = _rng(job)
    n = int(rng.integers(1, 7))
    spec = ro.RNNSpec(cell="tanh", n_x=int(rng.integers(1, 7)), n_h=n, n_y=n, head="none")
    kwargs = {"convention": "cs231n", "mode": "layer", "spec": spec,
              **_common(rng, job, "tanh", int(rng.integers(1, 4)))}
    correct = cs231n.make()

    def make(mutation: str | None) -> Any:
        if mutation is None:
            return correct

        def fn(params: Any, x: Any, h0: Any, upstream: Any) -> Any:
            grads = correct(params, x, h0, upstream)

            def last() -> np.ndarray:
                h = h0
                for t in range(x.shape[1] - 1):
                    h = cs231n.rnn_step_forward(x[:, t, :], h, params["Wx"], params["Wh"],
                                                params["b"])[0]
                return np.asarray(correct(params, x[:, -1:], h, upstream[:, -1:])["Wh"])

            return {**grads, "Wh": _mutate_numpy(mutation, grads["Wh"], last)}
        return fn

    def repro() -> str:
        return ("from tests.rnn_oracle.oracle.corpus import cs231n; "
                f"ro.check_gradients(cs231n.make(), {_kwargs_code(kwargs)})")

    return Planned(make, kwargs, repro, {"cell": "tanh"})


# -- torch nn.RNN / GRU / LSTM stacks -------------------------------------------------------
def _torch_mutant_class(base: Any, mutation: str) -> Any:
    """A subclass of ``base`` (``nn.RNN``/``GRU``/``LSTM``) whose backward gives
    ``weight_hh_l0`` the mutated gradient (the module's other gradients are autograd's)."""
    import torch

    def transform(g: Any) -> Any:
        if mutation == "zero":
            return torch.zeros_like(g)
        if mutation == "transposed":
            n = g.shape[1]
            return torch.cat([g[k * n:(k + 1) * n].T for k in range(g.shape[0] // n)]).contiguous()
        out = g.clone()
        flat = out.view(-1)
        k = int(torch.argmax(flat.abs()))
        flat[k] = flat[k] * 1.01
        return out

    class Tamper(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, w: Any) -> Any:
            return w.view_as(w)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            wrong = transform(g)
            _record(mutation, g.detach().numpy(), wrong.detach().numpy())
            return wrong

    class Mutant(base):
        def forward(self, x: Any, hx: Any = None) -> Any:
            k = self._flat_weights_names.index("weight_hh_l0")
            saved: list[Any] = self._flat_weights  # type: ignore[has-type]
            w = saved[k]
            swapped = w.detach() if mutation == "last_step" else Tamper.apply(w)
            self._flat_weights = [swapped if i == k else v for i, v in enumerate(saved)]
            try:
                out, h_n = super().forward(x, hx)
            finally:
                self._flat_weights = saved
            if mutation == "last_step":
                extra = _last_step_output(self, base, x, hx, w)
                out = out + (extra - extra.detach())
                DIFFERS[mutation] = DIFFERS.get(mutation, False) or (
                    (x.shape[1] if self.batch_first and x.dim() == 3 else x.shape[0]) > 1)
            return out, h_n

    Mutant.__name__ = Mutant.__qualname__ = f"{mutation.title()}{base.__name__}"
    return Mutant


def _last_step_output(m: Any, base: Any, x: Any, hx: Any, w_hh: Any) -> Any:
    """The stack's output computed layer by layer from detached weights and inputs, with
    ``weight_hh_l0`` (``w_hh``, attached) used at the last step of layer 0's forward
    direction only: its gradient through this output is the last step's contribution."""
    from torch.func import functional_call

    unbatched = x.dim() == 2
    seq = x.detach()
    if unbatched:
        seq = seq.unsqueeze(1)
    elif m.batch_first:
        seq = seq.transpose(0, 1)
    lstm = isinstance(hx, tuple)
    h0: Any
    c0: Any
    h0, c0 = (hx if lstm else (hx, None))
    D = 2 if m.bidirectional else 1
    if unbatched:
        h0 = h0.unsqueeze(1)
        c0 = c0.unsqueeze(1) if c0 is not None else None
    extra = {"nonlinearity": m.nonlinearity} if base.__name__ == "RNN" else {}
    params = {n: p.detach() for n, p in m.named_parameters()}

    def run(sub: Any, names: dict[str, Any], inp: Any, state: Any) -> tuple[Any, Any]:
        out, last = functional_call(sub, names, (inp, state))
        return out, last

    inp = seq
    for layer in range(m.num_layers):
        sub = base(inp.shape[-1], m.hidden_size, num_layers=1, dtype=inp.dtype, **extra)
        outs = []
        for d in range(D):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            names = {f"{k}_l0": params[f"{k}{suffix}"]
                     for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            i = layer * D + d
            state = (h0[i:i + 1].detach(), c0[i:i + 1].detach()) if lstm else h0[i:i + 1].detach()
            s = inp.flip(0) if d else inp
            if layer == 0 and d == 0:
                if s.shape[0] > 1:
                    head, state = run(sub, names, s[:-1], state)
                    state = (state[0].detach(), state[1].detach()) if lstm else state.detach()
                    tail, _ = run(sub, {**names, "weight_hh_l0": w_hh}, s[-1:], state)
                    out = _cat(head.detach(), tail)
                else:
                    out, _ = run(sub, {**names, "weight_hh_l0": w_hh}, s, state)
            else:
                out, _ = run(sub, names, s, state)
            outs.append(out.flip(0) if d else out)
        inp = outs[0] if D == 1 else _cat(*outs, dim=-1)
    if unbatched:
        return inp.squeeze(1)
    return inp.transpose(0, 1) if m.batch_first else inp


def _cat(*tensors: Any, dim: int = 0) -> Any:
    import torch

    return torch.cat(tensors, dim=dim)


TORCH_CELLS = {"torch RNN": ("tanh", "relu"), "torch GRU": ("gru",), "torch LSTM": ("lstm",)}


def _torch(job: Job) -> Planned:
    rng = _rng(job)
    kind = job.family.split()[1]
    cells = TORCH_CELLS[job.family]
    cell = cells[int(rng.integers(len(cells)))]
    n_x, n_h = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    layers = int(rng.integers(1, 4))
    bidirectional = bool(rng.integers(2))
    batch_first = bool(rng.integers(2))
    batch = (None, 1, 2, 3)[int(rng.integers(4))]
    kwargs = _common(rng, job, cell, batch)
    extra = {"nonlinearity": cell} if kind == "RNN" else {}
    ctor = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, **extra)

    def make(mutation: str | None) -> Any:
        import torch

        base = getattr(torch.nn, kind)
        cls = base if mutation is None else _torch_mutant_class(base, mutation)
        module = cls(n_x, n_h, **ctor)
        return module.double() if job.dtype == "float64" else module

    def repro() -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in ctor.items())
        double = ".double()" if job.dtype == "float64" else ""
        return (f"import torch; ro.check_gradients(torch.nn.{kind}({n_x}, {n_h}, {args}){double}, "
                f"{_kwargs_code(kwargs)})")

    return Planned(make, kwargs, repro, {"cell": cell, "layers": layers})


# -- Flax GRUCell / LSTMCell -----------------------------------------------------------------
def _flax(job: Job) -> Planned:
    rng = _rng(job)
    kind = job.family.split()[1]
    n_h = int(rng.integers(1, 5))
    kwargs = _common(rng, job, "gru" if kind == "GRUCell" else "lstm",
                     (None, 1, 2, 3)[int(rng.integers(4))])

    def make(mutation: str | None) -> Any:
        import flax.linen as nn

        assert mutation is None
        return getattr(nn, kind)(features=n_h)

    def repro() -> str:
        return (f"import flax.linen as nn; ro.check_gradients(nn.{kind}(features={n_h}), "
                f"{_kwargs_code(kwargs)})")

    return Planned(make, kwargs, repro, {"cell": kind})


def plan(job: Job) -> Planned:
    """The drawn case of ``job``."""
    name = job.family
    if name == "numpy dlbook model":
        return _dlbook(job, "model")
    if name == "numpy dlbook layer":
        return _dlbook(job, "layer")
    if name == "numpy karpathy model":
        return _karpathy(job)
    if name == "numpy cs231n layer":
        return _cs231n(job)
    if name.startswith("torch"):
        return _torch(job)
    return _flax(job)


def allocate(total: int) -> dict[str, int]:
    """Cases per family (each split evenly between the dtypes), at least 2 per family."""
    weights = sum(f.share for f in FAMILIES)
    return {f.name: max(2, math.ceil(total * f.share / weights)) for f in FAMILIES}
