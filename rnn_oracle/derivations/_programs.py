"""A derivation's array program, compiled once per key where the backend compiles (JAX).

Eager JAX dispatches every operation on its own — T steps of a few small operations each,
forwards and backwards — and that dispatch, not the arithmetic, is what an eager JAX
reference costs. Compiled, the whole derivation is one program, its loops ``lax.scan``
(:func:`rnn_oracle._loops.staged`), so compile time does not grow with T.

A program is keyed by what its trace reads besides its array arguments (the method and the
spec); JAX's own cache inside each compiled function keys the rest (shapes, dtypes, the x64
switch). Backends without ``jit`` (NumPy, torch) run the function as it is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from backends import Backend
from rnn_oracle._loops import staged
from rnn_oracle.model import rounding_active

#: Programs kept (least recently used dropped first): one per method and spec in use; a
#: property-based test run meets hundreds of specs, each holding its compiled code.
MAX_PROGRAMS = 64

_programs: OrderedDict[tuple[str, Hashable], Callable[..., Any]] = OrderedDict()


def program(
    backend: Backend, key: Hashable, build: Callable[[], Callable[..., Any]]
) -> Callable[..., Any]:
    """The function ``build()`` returns, compiled once per ``(backend, key)`` where the
    backend compiles; otherwise ``build()`` itself.

    ``key`` must determine everything the function reads other than its arguments; the
    arguments are arrays (or dicts and tuples of arrays, or None).
    """
    if "jit" not in backend.capabilities or rounding_active():
        # The policy's rounding hook draws random numbers per step at run time: a trace
        # would draw once and bake them in.
        return build()
    full_key = (backend.name, key)
    compiled = _programs.get(full_key)
    if compiled is None:
        compiled = backend.jit(_staged(build()))
        _programs[full_key] = compiled
        while len(_programs) > MAX_PROGRAMS:
            _programs.popitem(last=False)
    else:
        _programs.move_to_end(full_key)
    return compiled


def _staged(fn: Callable[..., Any]) -> Callable[..., Any]:
    # Runs only while JAX traces: the loops inside become lax.scan.
    def traced(*args: Any) -> Any:
        with staged():
            return fn(*args)

    return traced
