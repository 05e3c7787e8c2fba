"""Layout mathematics for derivatives: layouts, vec/Kronecker operators, orientation.

Layer 0 of rnn-oracle: knows nothing of RNNs, imports neither torch nor JAX (arrays of
any array-API library are accepted and handled through ``array_api_compat``).
"""

from __future__ import annotations

from ._vec import unvec, unvecr, vec, vecr
from .errors import ConventionError
from .layouts import FLATTENINGS, LAYOUTS, Flatten, Layout, from_layout, layout_shape, to_layout
from .operators import (
    DEFAULT_MAX_ELEMENTS,
    Commutation,
    Dense,
    Diagonal,
    Identity,
    Kron,
    LinearOperator,
    Product,
    Scaled,
    Sum,
    as_operator,
    commutation,
)
from .orientation import column_matrix, row_matrix, to_column, to_row

#: Marks this package as rnn-oracle's own (checked by ``rnn_oracle._packages``, so a
#: same-named package of yours earlier on sys.path gives a clear ImportError).
_DISTRIBUTION = "rnn-oracle"

__all__ = [
    "DEFAULT_MAX_ELEMENTS",
    "FLATTENINGS",
    "LAYOUTS",
    "Commutation",
    "ConventionError",
    "Dense",
    "Diagonal",
    "Flatten",
    "Identity",
    "Kron",
    "Layout",
    "LinearOperator",
    "Product",
    "Scaled",
    "Sum",
    "as_operator",
    "column_matrix",
    "commutation",
    "from_layout",
    "layout_shape",
    "row_matrix",
    "to_column",
    "to_layout",
    "to_row",
    "unvec",
    "unvecr",
    "vec",
    "vecr",
]
