"""A recurrent cell declared once: :class:`Cell`.

A cell is a step function written against the array namespace ``xp``, the shapes of its
parameters as a function of the sizes, the names of the states it carries and,
optionally, which parameter rows belong to which gate. That is all the oracle needs: the
forward pass of every architecture runs the step, and the references differentiate it
without a hand derivation — complex step on NumPy (per step, in
:mod:`rnn_oracle.architectures.bptt`, and of the whole loss), autodiff on torch and JAX.
The built-in cells (:mod:`rnn_oracle.architectures.builtin_cells`) are instances of it;
the vanilla, GRU and LSTM cells also carry a hand BPTT.

Conventions the step follows (those of every built-in):

* rows are batch entries: ``x`` is ``(n_in,)`` or ``(B, n_in)`` and every state
  ``(n_h,)`` or ``(B, n_h)``; a row's new state depends on that row only;
* the first state is the block's output ``h`` (what the head and the next layer read);
  every state has ``n_h`` entries;
* ``step(params, state, x, xp)`` gets ``state`` as an array for a one-state cell and as a
  tuple in :attr:`Cell.states` order otherwise, and returns the new state the same way;
* it is *analytic* (no ``abs``, ``max``, comparisons, ``xp.real``): complex step reads the
  derivative from the imaginary part. A step that is not is refused by the NumPy
  references with a message; declare ``analytic=False`` and they route to torch or JAX
  autodiff instead.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rnn_oracle.errors import OracleError

Array = Any
#: ``step(params, state, x, xp) -> new state``.
StepFunction = Callable[[Mapping[str, Array], Any, Array, Any], Any]
#: ``param_shapes(n_in, n_h) -> {name: shape}``.
ShapeFunction = Callable[[int, int], Mapping[str, tuple[int, ...]]]


@dataclass(frozen=True, eq=False)
class Cell:
    """A recurrent cell: ``NetworkSpec(cell=Cell(...))`` runs it in every architecture.

    Attributes:
        name: a short name for reports and tables (``"min_gru"``).
        step: ``step(params, state, x, xp) -> state``; see the module docstring.
        param_shapes: ``param_shapes(n_in, n_h) -> {name: shape}``: the parameters of
            one block, which read vectors of size ``n_in`` (``n_x`` in the first layer).
            Names are identifiers without dots; a network prefixes them with the block
            (``layer0.forward.W_z``).
        states: the names of the states a block carries, output first: ``("h",)``,
            ``("h", "c")``. Initial states are named ``{block}{state}0``.
        gates: optionally, for a parameter whose first axis stacks one equal block per
            gate, the gate names in order: ``{"W": ("z", "h"), "b": ("z", "h")}``. A
            failing report then says how far off each gate's block is.
        analytic: False for a step that complex step cannot differentiate (see above).
    """

    name: str
    step: StepFunction
    param_shapes: ShapeFunction
    states: tuple[str, ...] = ("h",)
    gates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    analytic: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise OracleError(f"Cell.name: expected a non-empty string, got {self.name!r}")
        for attr in ("step", "param_shapes"):
            if not callable(getattr(self, attr)):
                raise OracleError(
                    f"Cell.{attr}: expected a function, got {type(getattr(self, attr)).__name__}"
                )
        states = self.states
        if isinstance(states, str) or not isinstance(states, (tuple, list)) or not states:
            raise OracleError(
                f"Cell.states: expected a non-empty tuple of state names such as ('h',) or "
                f"('h', 'c'), got {states!r}"
            )
        states = tuple(states)
        bad = [s for s in states if not _is_name(s)]
        if bad or len(set(states)) != len(states):
            raise OracleError(
                f"Cell.states: expected distinct identifiers, got {list(states)}"
            )
        object.__setattr__(self, "states", states)
        if not isinstance(self.gates, Mapping):
            raise OracleError(
                f"Cell.gates: expected a mapping parameter -> gate names, got "
                f"{type(self.gates).__name__}"
            )
        gates = {}
        for param, names in self.gates.items():
            if isinstance(names, str) or not isinstance(names, (tuple, list)) or not names:
                raise OracleError(
                    f"Cell.gates[{param!r}]: expected a tuple of gate names, got {names!r}"
                )
            gates[param] = tuple(str(n) for n in names)
        object.__setattr__(self, "gates", gates)
        if not isinstance(self.analytic, bool):
            raise OracleError(f"Cell.analytic: expected True or False, got {self.analytic!r}")

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Cell({self.name!r}, states={self.states})"

    # -- what the network needs -----------------------------------------------------------
    def shapes(self, n_in: int, n_h: int) -> dict[str, tuple[int, ...]]:
        """:attr:`param_shapes` of one block, validated."""
        try:
            given = self.param_shapes(n_in, n_h)
        except Exception as exc:  # the user's function: say whose it is
            raise OracleError(
                f"Cell {self.name!r}: param_shapes({n_in}, {n_h}) raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(given, Mapping) or not given:
            raise OracleError(
                f"Cell {self.name!r}: param_shapes({n_in}, {n_h}) must return a non-empty "
                f"dict name -> shape, got {given!r}"
            )
        out: dict[str, tuple[int, ...]] = {}
        reserved = tuple(f"{s}0" for s in self.states)
        for name, shape in given.items():
            if not _is_name(name) or name.endswith(reserved) or name in ("inputs",):
                raise OracleError(
                    f"Cell {self.name!r}: parameter name {name!r} must be an identifier "
                    f"without dots that does not end like an initial state {list(reserved)}"
                )
            dims = tuple(shape) if isinstance(shape, (tuple, list)) else None
            if dims is None or not all(
                isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims
            ):
                raise OracleError(
                    f"Cell {self.name!r}: shape of {name!r} must be a tuple of positive "
                    f"integers, got {shape!r}"
                )
            out[name] = dims
        for param, names in self.gates.items():
            if param not in out:
                raise OracleError(
                    f"Cell {self.name!r}: gates names parameter {param!r}, which "
                    f"param_shapes does not declare (it declares {list(out)})"
                )
            if not out[param] or out[param][0] % len(names):
                raise OracleError(
                    f"Cell {self.name!r}: {param!r} of shape {out[param]} cannot hold "
                    f"{len(names)} equal gate blocks {names} along its first axis"
                )
        return out

    def run_step(
        self, params: Mapping[str, Array], state: tuple[Array, ...], x: Array, xp: Any
    ) -> tuple[Array, ...]:
        """One step with the state as a tuple (whatever the cell's arity), checked."""
        given = state[0] if len(self.states) == 1 else tuple(state)
        try:
            new = self.step(params, given, x, xp)
        except OracleError:
            raise
        except Exception as exc:
            raise OracleError(
                f"Cell {self.name!r}: its step raised {type(exc).__name__}: {exc}"
            ) from exc
        out = (new,) if len(self.states) == 1 else new
        if not isinstance(out, tuple) or len(out) != len(self.states):
            expected = ("one array" if len(self.states) == 1 else
                        f"a tuple of {len(self.states)} arrays {self.states}")
            raise OracleError(
                f"Cell {self.name!r}: its step must return {expected}, got "
                f"{type(new).__name__}"
            )
        for s, before, after in zip(self.states, state, out, strict=True):
            if tuple(getattr(after, "shape", ())) != tuple(before.shape):
                raise OracleError(
                    f"Cell {self.name!r}: its step returned state {s!r} of shape "
                    f"{tuple(getattr(after, 'shape', ()))}; expected {tuple(before.shape)}, "
                    "the shape it came in"
                )
        return out


def _is_name(name: object) -> bool:
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)
