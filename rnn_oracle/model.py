"""The forward pass of the canonical network, written once against an array namespace.

Every function here takes ``xp`` — NumPy's, torch's or JAX's array-API namespace — and
uses only array-API operations plus ``@`` and ``.T``/``.mT``, so the same code runs on
every backend, differentiates under torch autograd and JAX, and accepts complex arrays
(for complex-step differentiation: nothing here takes ``abs`` or compares imaginary
parts).

Shapes: a step's hidden state is ``(n_h,)`` unbatched or ``(B, n_h)`` batched; the row
form ``h @ W.T`` is the canonical column form ``W h`` applied to every row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import array_api_compat

from rnn_oracle._loops import scan
from rnn_oracle.spec import RNNSpec

if TYPE_CHECKING:
    from rnn_oracle.architectures.spec import NetworkSpec

Array = Any


@dataclass(frozen=True)
class Trajectory:
    """Everything the forward pass computed. Stacked arrays have time as axis 0."""

    loss: Array  #: the scalar J
    a: Array  #: pre-activations ``(T, [B,] n_h)``
    h: Array  #: hidden states ``(T, [B,] n_h)`` (``h0`` not included)
    o: Array | None  #: output pre-activations ``(T, [B,] n_y)``; None for head ``none``
    yhat: Array | None  #: softmax probabilities (softmax_ce) or ``o`` (linear_mse)
    weight: float  #: ``sign × 1/T? × 1/B?``: the factor each per-sample step loss gets in J


def stack_matmul(xp: Any, stack: Array, matrix: Array) -> Array:
    """``stack @ matrix`` for a stack of rows ``(…, k)``, as one 2-D product.

    NumPy's matmul runs one GEMM per leading index of a 3-D operand — T products of B
    rows instead of one of T·B rows, a third slower at B = 32; torch and JAX fold the
    leading axes themselves, so the reshape costs them nothing.
    """
    flat = xp.reshape(stack, (-1, stack.shape[-1])) @ matrix
    return xp.reshape(flat, (*stack.shape[:-1], matrix.shape[-1]))


def one_hot(xp: Any, indices: Array, n: int, dtype: Any) -> Array:
    """``(…, n)`` one-hot rows for integer ``indices`` (array-API only, any backend)."""
    classes = xp.arange(n, device=device_of(indices))
    return xp.astype(indices[..., None] == classes, dtype)


def loss_weight(spec: RNNSpec | NetworkSpec, seq_len: int, batch: int | None) -> float:
    """The factor multiplying every per-sample, per-step loss in J (``seq_len``: the steps
    the loss sees)."""
    weight = spec.sign
    if spec.time_reduction == "mean":
        weight /= seq_len
    if batch is not None and spec.batch_reduction == "mean":
        weight /= batch
    return weight


#: Set only inside :func:`rounded_nonlinearities`: what every nonlinearity's output goes
#: through before anything reads it.
_ROUNDING: ContextVar[Callable[[Array], Array] | None] = ContextVar("rounding", default=None)


@contextmanager
def rounded_nonlinearities(perturb: Callable[[Array], Array]) -> Iterator[None]:
    """Within the block, ``perturb`` is applied to every ``φ(a)`` the forward passes of
    both stacks compute (vanilla states, gates, LSTM's ``tanh(c)``).

    Why: the policy's drift reruns (:func:`~rnn_oracle.oracle.policy.measured_drift`)
    model another implementation's rounding. Perturbing the *inputs* by one rounding moves
    a saturated ``h = tanh(a)`` far less than one ulp, but another implementation's own
    ``tanh`` may land an ulp away, and ``1 − h²`` computed from it then carries a relative
    error ``≈ 2ε h²/(1 − h²)`` — large exactly where the cell saturates. Rounding each
    output once here is that perturbation.
    """
    token = _ROUNDING.set(perturb)
    try:
        yield
    finally:
        _ROUNDING.reset(token)


def rounding_active() -> bool:
    """Whether a :func:`rounded_nonlinearities` block is open (its hook runs per call, so
    loops that would be traced once run step by step instead)."""
    return _ROUNDING.get() is not None


def activation(cell: str, a: Array, xp: Any) -> Array:
    """``phi(a)`` for the named cell."""
    if cell == "tanh":
        out = xp.tanh(a)
    elif cell == "sigmoid":
        out = 1.0 / (1.0 + xp.exp(-a))
    elif cell == "relu":
        # Compare real parts only, so complex-step perturbations pass straight through.
        out = xp.where(xp.real(a) > 0, a, xp.zeros_like(a))
    elif cell == "identity":
        out = a
    else:
        raise ValueError(f"unknown cell {cell!r}")  # RNNSpec validates; unreachable for users
    perturb = _ROUNDING.get()
    return out if perturb is None else perturb(out)


def activation_derivative(cell: str, a: Array, h: Array, xp: Any) -> Array:
    """``phi'(a)``, written through ``h = phi(a)`` where the cell allows (seed 002: 1 − h²)."""
    if cell == "tanh":
        return 1.0 - h * h
    if cell == "sigmoid":
        return h * (1.0 - h)
    if cell == "relu":
        return xp.astype(xp.real(a) > 0, a.dtype)
    if cell == "identity":
        return xp.ones_like(a)
    raise ValueError(f"unknown cell {cell!r}")


def log_softmax(o: Array, xp: Any) -> Array:
    """Row-wise log-softmax, stabilised by the max of the real parts.

    Any shift ``m`` gives the same value (``lse(o) = m + log Σ exp(o − m)``), so a
    shift taken from real parts keeps the function analytic for complex step.
    """
    shift = xp.max(xp.real(o), axis=-1, keepdims=True)
    z = o - shift
    return z - xp.log(xp.sum(xp.exp(z), axis=-1, keepdims=True))


def forward(
    spec: RNNSpec,
    params: Mapping[str, Array],
    x: Array,
    h0: Array,
    xp: Any,
    *,
    targets: Array | None = None,
    upstream: Array | None = None,
) -> Trajectory:
    """Run the network over ``x`` (dense or one-hot rows, ``(T, [B,] n_x)``).

    ``targets`` are one-hot rows for softmax_ce and dense rows for linear_mse;
    ``upstream`` holds the per-step ``∂J/∂h_t`` for head ``none``.
    """
    seq_len = x.shape[0]
    batch = h0.shape[0] if h0.ndim == 2 else None
    W_hh, W_xh, b_h = params["W_hh"], params["W_xh"], params["b_h"]
    # The input projection of every step at once: one large matmul instead of T small ones.
    x_proj = stack_matmul(xp, x, W_xh.T) + b_h
    W_hh_T = W_hh.T

    def step(h_prev: Array, u_t: Array) -> tuple[Array, tuple[Array, Array]]:
        a_t = h_prev @ W_hh_T + u_t
        h_t = activation(spec.cell, a_t, xp)
        return h_t, (a_t, h_t)

    # Unrolled under the rounding hook: it draws fresh random signs at every step.
    _, (a, h) = scan(xp, step, h0, x_proj, unrolled=rounding_active())
    weight = loss_weight(spec, seq_len, batch)

    if spec.head == "none":
        loss = weight * xp.sum(upstream * h)
        return Trajectory(loss=loss, a=a, h=h, o=None, yhat=None, weight=weight)
    o = stack_matmul(xp, h, params["W_hy"].T) + params["b_y"]
    if spec.head == "softmax_ce":
        log_p = log_softmax(o, xp)
        loss = -weight * xp.sum(targets * log_p)
        return Trajectory(loss=loss, a=a, h=h, o=o, yhat=xp.exp(log_p), weight=weight)
    diff = o - targets
    loss = 0.5 * weight * xp.sum(diff * diff)
    return Trajectory(loss=loss, a=a, h=h, o=o, yhat=o, weight=weight)


def loss_function(
    spec: RNNSpec,
    xp: Any,
    *,
    inputs: Array,
    targets: Array | None,
    upstream: Array | None,
) -> Callable[[Mapping[str, Array]], Array]:
    """``J`` as a function of the differentiable arrays (parameters, ``h0``, ``inputs``).

    The returned function takes a mapping with the canonical parameter names, ``"h0"``
    and — unless the inputs are class indices — ``"inputs"``. Fixed data (index inputs,
    targets as one-hot or dense rows, upstream gradients) are closed over, already
    converted to the backend.
    """

    def loss(arrays: Mapping[str, Array]) -> Array:
        params = {name: arrays[name] for name in spec.param_names}
        dtype = arrays["h0"].dtype
        x = arrays["inputs"] if "inputs" in arrays else one_hot(xp, inputs, spec.n_x, dtype)
        return forward(spec, params, x, arrays["h0"], xp, targets=targets, upstream=upstream).loss

    return loss


def device_of(array: Array) -> Any:
    # array_api_compat reads the device without importing the array's framework.
    return array_api_compat.device(array)
