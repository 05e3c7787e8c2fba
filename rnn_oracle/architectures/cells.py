"""One step of every cell, forward and hand-derived backward, written against ``xp``.

A step reads the input projection ``u = x W_xh^T + b`` (computed for all steps at once
when the inputs are known in advance) and the previous state, and returns the new state
and what its backward step needs. Rows are batch entries; ``s @ W.T`` is the column
form ``W s`` applied to every row. Torch's equations and gate order:

* vanilla: ``a = u + W_hh h``, ``h' = phi(a)``
* GRU (r, z, n): ``r = σ(u_r + W_hr h + b_hr)``, ``z = σ(u_z + W_hz h + b_hz)``,
  ``n = tanh(u_n + r ∘ (W_hn h + b_hn))``, ``h' = (1 − z) ∘ n + z ∘ h``
* LSTM (i, f, g, o): ``[i, f, g, o] = [σ, σ, tanh, σ](u + W_hh h + b_hh)``,
  ``c' = f ∘ c + i ∘ g``, ``h' = o ∘ tanh(c')``

Everything is analytic in the parameters (no ``abs``, no comparison of imaginary parts),
so complex-step differentiation runs through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rnn_oracle.model import activation, activation_derivative

Array = Any
State = tuple[Array, ...]  #: ``(h,)`` or, for LSTM, ``(h, c)``


def split(a: Array, parts: int, xp: Any) -> list[Array]:
    """The ``parts`` equal blocks of the last axis (the gates, in order)."""
    n = a.shape[-1] // parts
    return [a[..., k * n : (k + 1) * n] for k in range(parts)]


@dataclass(frozen=True)
class StepCache:
    """What a step's backward needs: the previous state, the recurrent projection
    ``W_hh h (+ b_hh)`` and the gate values; and the step's input projection ``u``, from
    which (with ``hw``) a gate's pre-activation follows (a backward that differentiates at
    the pre-activation by mistake is one of the diagnosis' slips)."""

    prev: State
    hw: Array
    values: tuple[Array, ...]
    u: Array = None


def step(
    cell: str, p: Mapping[str, Array], u: Array, prev: State, xp: Any
) -> tuple[State, StepCache]:
    """One forward step. ``p`` holds the block's ``W_hh`` (and ``b_hh`` for gated cells)."""
    h = prev[0]
    hw = h @ p["W_hh"].T
    if cell == "gru":
        hw = hw + p["b_hh"]
        u_r, u_z, u_n = split(u, 3, xp)
        w_r, w_z, w_n = split(hw, 3, xp)
        r = activation("sigmoid", u_r + w_r, xp)
        z = activation("sigmoid", u_z + w_z, xp)
        n = activation("tanh", u_n + r * w_n, xp)
        h_new = (1.0 - z) * n + z * h
        return (h_new,), StepCache(prev, hw, (r, z, n), u)
    if cell == "lstm":
        hw = hw + p["b_hh"]
        a_i, a_f, a_g, a_o = split(u + hw, 4, xp)
        i, f, o = (activation("sigmoid", a, xp) for a in (a_i, a_f, a_o))
        g = activation("tanh", a_g, xp)
        c_new = f * prev[1] + i * g
        tc = activation("tanh", c_new, xp)
        return (o * tc, c_new), StepCache(prev, hw, (i, f, g, o, tc), u)
    a = u + hw
    h_new = activation(cell, a, xp)
    return (h_new,), StepCache(prev, hw, (a, h_new), u)


def step_backward(
    cell: str, p: Mapping[str, Array], cache: StepCache, d_new: State, xp: Any
) -> tuple[Array, Array, State]:
    """Backward of one step.

    Given ``∂J/∂`` of the new state, returns ``(du, dhw, d_prev)``: the gradients with
    respect to the input projection ``u``, the recurrent projection ``hw`` (which give the
    weight and bias gradients), and the previous state (through every path, ``W_hh``
    included).
    """
    h = cache.prev[0]
    dh_new = d_new[0]
    if cell == "gru":
        r, z, n = cache.values
        _, _, w_n = split(cache.hw, 3, xp)
        dn = dh_new * (1.0 - z)
        da_n = dn * (1.0 - n * n)
        da_z = dh_new * (h - n) * z * (1.0 - z)
        da_r = da_n * w_n * r * (1.0 - r)
        du = xp.concat([da_r, da_z, da_n], axis=-1)
        dhw = xp.concat([da_r, da_z, da_n * r], axis=-1)
        dh = dh_new * z + dhw @ p["W_hh"]
        return du, dhw, (dh,)
    if cell == "lstm":
        i, f, g, o, tc = cache.values
        dc = d_new[1] + dh_new * o * (1.0 - tc * tc)
        da = xp.concat(
            [
                dc * g * i * (1.0 - i),
                dc * cache.prev[1] * f * (1.0 - f),
                dc * i * (1.0 - g * g),
                dh_new * tc * o * (1.0 - o),
            ],
            axis=-1,
        )
        return da, da, (da @ p["W_hh"], dc * f)
    a, h_new = cache.values
    da = dh_new * activation_derivative(cell, a, h_new, xp)
    return da, da, (da @ p["W_hh"],)
