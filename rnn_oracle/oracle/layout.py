"""One array, two spellings: the canonical layout and the user's convention.

The oracle computes in canonical form (column mathematics, time first) and reports in the
user's names and shapes. :class:`Layout` converts single gradients, per-step stacks and
data sequences between the two, by transposes and reshapes only, so a conversion never
changes a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnn_oracle.case import Case
from rnn_oracle.errors import OracleError
from rnn_oracle.params import ParamConvention
from rnn_oracle.spec import RNNSpec

#: Names of the non-parameter arrays a layer-mode target differentiates.
DATA_NAMES: tuple[str, ...] = ("inputs", "h0")


@dataclass(frozen=True)
class Layout:
    """How one convention spells the arrays of one spec."""

    convention: ParamConvention
    spec: RNNSpec

    @property
    def param_names(self) -> tuple[str, ...]:
        """The convention's parameter names that the spec uses (absent ones excluded)."""
        return self.convention.names_for(self.spec)

    def data_names(self) -> tuple[str, ...]:
        """``inputs`` (unless they are class indices) and ``h0``."""
        return ("h0",) if self.spec.inputs == "indices" else DATA_NAMES

    def canonical(self, name: str) -> str:
        """The canonical array a user name stands for (``W_hh``, ``h0``, ``inputs``)."""
        if name in DATA_NAMES:
            return name
        return self.convention.canonical_of(name)[0]

    def transposed(self, name: str) -> bool:
        return name not in DATA_NAMES and self.convention.canonical_of(name)[1]

    def describe(self, name: str) -> str:
        """``"W_xh.T"``-style mapping of a user name, for messages."""
        base = self.canonical(name)
        return f"{base}.T" if self.transposed(name) else base

    def shapes(self, case: Case) -> dict[str, tuple[int, ...]]:
        """The shape the convention implies for every parameter and data gradient."""
        shapes = dict(self.convention.user_shapes(self.spec))
        for name in self.data_names():
            canonical = case.h0 if name == "h0" else case.inputs
            shapes[name] = self.to_user(name, np.zeros(canonical.shape)).shape
        return shapes

    # -- one array ------------------------------------------------------------------------
    def to_user(self, name: str, value: np.ndarray) -> np.ndarray:
        """A canonical gradient of ``name`` in the convention's shape."""
        if name == "h0":
            return self.convention.state_to_user(value)
        if name == "inputs":
            return self.convention.sequence_to_user(value)
        return self.stack_to_user(name, np.asarray(value)[None, ...])[0]

    def to_canonical(self, name: str, value: np.ndarray) -> np.ndarray:
        """A user-shaped gradient of ``name`` in canonical shape (inverse of :meth:`to_user`)."""
        if name == "h0":
            return self.convention.state_to_canonical(value)
        if name == "inputs":
            return self.convention.sequence_to_canonical(value)
        value = np.asarray(value)
        if self.transposed(name):
            return np.swapaxes(value, -1, -2)
        canonical_shape = self.spec.param_shapes()[self.canonical(name)]
        return value.reshape(canonical_shape)

    def stack_to_user(self, name: str, stack: np.ndarray) -> np.ndarray:
        """A ``(T, *canonical)`` per-step stack in the convention's per-parameter shape."""
        stack = np.asarray(stack)
        if self.transposed(name):
            return np.swapaxes(stack, -1, -2)
        user_shape = self.convention.user_shapes(self.spec)[name]
        return stack.reshape((stack.shape[0], *user_shape))

    # -- data -----------------------------------------------------------------------------
    def params_to_user(self, case: Case) -> dict[str, np.ndarray]:
        return self.convention.from_canonical(case.params, self.spec)

    def sequence_to_user(self, seq: np.ndarray) -> Any:
        """A canonical sequence in the convention's layout; unbatched class indices
        become a Python list (min-char-rnn's ``inputs`` and ``targets``)."""
        arr = self.convention.sequence_to_user(seq)
        if arr.dtype.kind in "iu" and arr.ndim == 1:
            return [int(i) for i in arr]
        return arr

    def state_to_user(self, h: np.ndarray) -> np.ndarray:
        return self.convention.state_to_user(h)

    def expected_in_user(
        self, canonical: Mapping[str, np.ndarray], names: tuple[str, ...]
    ) -> dict[str, np.ndarray]:
        """Reference gradients (canonical) for the given user names, in user shape."""
        return {name: self.to_user(name, canonical[self.canonical(name)]) for name in names}


def check_mode_spec(convention: ParamConvention, spec: RNNSpec) -> None:
    """Refuse a spec whose input kind the convention cannot express."""
    if (convention.inputs == "indices") != (spec.inputs == "indices"):
        raise OracleError(
            f"spec.inputs is {spec.inputs!r} but convention {convention.name!r} gives inputs "
            f"as {convention.inputs!r}; class indices need a convention with inputs='indices' "
            "and the other way round"
        )
