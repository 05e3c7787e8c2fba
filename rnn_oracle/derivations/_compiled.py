"""Derivations on a backend that compiles (JAX): one program per structure, kept and reused.

Eager JAX compiles every primitive at every shape it meets and dispatches each from
Python, which costs far more than the arithmetic of the small networks a verify matrix
checks. Here a derivation runs instead as one compiled program, traced once per
*structure* and reused for every case of that structure: another seed is other numbers
for the same program, not another program.

The program's arguments are the case's converted arrays (``to_backend`` or
``on_backend``). While it is traced, the derivation's own call of that conversion returns
their traced stand-ins (:func:`traced_stand_in`), so the derivation's code runs unchanged.
This is sound because a derivation reads a case's numbers only through that conversion;
whatever else it reads of the case (spec, sizes, dtype) is structure, and in the key
(:func:`program_key`). What a cached program does *not* do again is Python: a check on
module state (rtrl's memory budget) goes into :func:`compiled`'s ``check``, and a helper
replaced after a program was traced (a monkeypatch, a reload) is not seen by it — as with
``jax.jit`` itself; :func:`clear_programs` forgets every program.

Several derivations of one case can also run as *one* program (:func:`together`, which
``rnn-oracle verify`` uses): a program has a fixed cost to trace, lower and compile, which
for these small networks is much of what it costs, and the derivations share their
forward pass. Each derivation still computes its own answer from the case's arrays; only
the compiling is shared.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from typing import Any

from backends import Backend
from rnn_oracle._loops import staged
from rnn_oracle.derivations.base import LazyMapping, Reference

#: While a program is traced: the case it traces, the dtype of its conversion and the
#: stand-in of the converted arrays (the program's arguments), which the derivation's own
#: ``to_backend`` / ``on_backend`` call returns (:func:`traced_stand_in`).
_TRACING: ContextVar[tuple[object, str, object] | None] = ContextVar("_TRACING", default=None)

#: Compiled programs by :func:`program_key`. Bounded: the oldest program goes first.
_PROGRAMS: dict[Hashable, Any] = {}
PROGRAM_CACHE_SIZE = 512
#: Guards :data:`_PROGRAMS`: verify's worker threads (``rnn_oracle._background``) share it.
_PROGRAMS_LOCK = threading.Lock()

#: What :data:`_PROGRAMS` holds for a function that does not trace (Python control flow
#: on values): it runs eagerly from then on, without another failed trace.
_EAGER = object()

#: Reference fields a compiled run leaves to an eager run on first read: they are lazy
#: (most callers never read them), and a traced array cannot outlive its trace.
_LAZY_FIELDS = ("per_step", "local")

#: Inside :func:`together`: the backend's name, the case, and each part's output (by its
#: ``what``) from the program they ran as, which :func:`run_compiled` returns for them.
_TOGETHER: ContextVar[tuple[str, object, dict[Hashable, tuple[Any, Any]]] | None] = ContextVar(
    "_TOGETHER", default=None
)


def traced_stand_in(case: object, dtype: str) -> Any | None:
    """While ``case`` is traced (converted in ``dtype``): its converted arrays as the
    program's traced arguments; else None (convert for real)."""
    current = _TRACING.get()
    if current is not None and current[0] is case and current[1] == dtype:
        return current[2]
    return None


def program_key(backend: Backend, what: Hashable, spec: Hashable, converted: Any) -> Hashable:
    """Everything that changes the program of ``what`` (a function) for a converted case:
    the backend, the spec, and the name, shape and dtype of every converted array (integer
    fields, such as an output length, by value).

    The dtypes are what keep a float32 and a float64 run apart: JAX's x64 switch decides
    whether a float64 case's arrays are float64, and the same spec at another dtype is
    another program, never a cached one (int index inputs are int32 or int64 likewise).
    """
    return (backend.name, what, spec, _structure(converted))


def _structure(converted: Any) -> Hashable:
    def of(value: Any) -> Hashable:
        if value is None or isinstance(value, int):
            return value
        if isinstance(value, Mapping):
            return tuple((k, of(v)) for k, v in value.items())
        return tuple(value.shape), str(value.dtype)

    return tuple((f.name, of(getattr(converted, f.name)))
                 for f in fields(converted) if f.name != "backend")


def cached_program(key: Hashable, build: Callable[[], Any]) -> Any:
    """The program for ``key``, built (and kept) on first use. ``build`` only wraps: the
    tracing and compiling happen on the program's first call, outside the lock."""
    with _PROGRAMS_LOCK:
        if key not in _PROGRAMS:
            if len(_PROGRAMS) >= PROGRAM_CACHE_SIZE:
                del _PROGRAMS[next(iter(_PROGRAMS))]
            _PROGRAMS[key] = build()
        return _PROGRAMS[key]


def _forget_as_eager(key: Hashable) -> None:
    with _PROGRAMS_LOCK:
        _PROGRAMS[key] = _EAGER


def clear_programs() -> None:
    """Forget every compiled program (the next run of each traces and compiles again)."""
    with _PROGRAMS_LOCK:
        _PROGRAMS.clear()


def arguments(converted: Any) -> list[Any]:
    """The arrays of a converted case (an ``OnBackend``), in field and key order: what its
    program takes (a list, since a program would see a dict's keys sorted)."""
    return [leaf for _, value in _array_fields(converted) for leaf in _leaves(value)]


def with_arguments(converted: Any, leaves: Sequence[Any]) -> Any:
    """``converted`` with its arrays replaced by ``leaves`` (in :func:`arguments` order)."""
    rest = iter(leaves)
    changes: dict[str, Any] = {}
    for name, value in _array_fields(converted):
        if isinstance(value, Mapping):
            changes[name] = {k: next(rest) for k in value}
        else:
            changes[name] = None if value is None else next(rest)
    return replace(converted, **changes)


def _array_fields(converted: Any) -> list[tuple[str, Any]]:
    return [
        (f.name, getattr(converted, f.name))
        for f in fields(converted)
        if f.name != "backend" and not isinstance(getattr(converted, f.name), int)
    ]


def _leaves(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value.values()) if isinstance(value, Mapping) else [value]


#: ``fn(case, backend) -> (arrays, static)``: a pytree of arrays (what the program returns)
#: and plain Python data known once traced (the same for every case of a structure).
Traceable = Callable[[Any, Backend], tuple[Any, Any]]


def run_compiled(
    what: Hashable, fn: Traceable, convert: Callable[[Any, Backend], Any], case: Any,
    backend: Backend,
) -> tuple[Any, Any]:
    """``fn(case, backend)``, run as the compiled program of the case's structure (traced
    on first use) where ``backend`` compiles and no trace is under way; else as it is.

    ``what`` names ``fn`` in the key (``fn`` itself may be a new closure per call);
    ``convert(case, backend)`` is the conversion whose result ``fn`` reads the case's
    numbers from.
    """
    if not compiles_here(backend):
        return fn(case, backend)
    scope = _TOGETHER.get()
    if scope is not None and scope[0] == backend.name and scope[1] is case and what in scope[2]:
        return scope[2][what]
    converted = convert(case, backend)
    key = program_key(backend, what, case.spec, converted)
    entry = cached_program(key, lambda: _traced(fn, case, backend, converted))
    if entry is _EAGER:
        return fn(case, backend)
    program, static = entry
    try:
        arrays = program(arguments(converted))
    except TypeError:  # does not trace: Python control flow on traced values
        _forget_as_eager(key)
        return fn(case, backend)
    return arrays, static[0]


@dataclass(frozen=True)
class Part:
    """One function :func:`run_compiled` runs: ``fn`` under the name ``what``, reading the
    case through ``convert``; ``check(case)`` raises where it must not run (rtrl over its
    memory budget)."""

    what: Hashable
    fn: Traceable
    convert: Callable[[Any, Backend], Any]
    check: Callable[[Any], None] | None = None

    def runs_for(self, case: Any) -> bool:
        """Whether the part's check lets it run for ``case``."""
        if self.check is None:
            return True
        try:
            self.check(case)
        except Exception:  # it will raise again, alone, when its derivation is called
            return False
        return True


#: The compiled part of each derivation :func:`compiled` decorated.
_PARTS: dict[Callable[..., Any], Part] = {}


def part_of(derivation: Callable[..., Any]) -> Part | None:
    """The compiled part of a derivation (None unless :func:`compiled` decorated it)."""
    return _PARTS.get(derivation)


@contextlib.contextmanager
def together(case: Any, backend: Backend, parts: Sequence[Part]) -> Iterator[None]:
    """Within the block, the ``parts``' runs for ``case`` on ``backend`` come from one
    program that computed them all (traced once per structure, as any program).

    What runs inside the block is unchanged: every derivation is called as usual (its
    checks included), and its compiled part returns what the shared program computed for
    it. A part that fails inside the shared trace is left out of it and runs on its own
    when called, raising there as it would have; if the shared program itself fails,
    every part does. Where the backend does not compile, or fewer than two parts share a
    conversion, the block changes nothing.
    """
    groups: dict[Callable[[Any, Backend], Any], list[Part]] = {}
    for part in parts:
        if part.runs_for(case):  # a shared program must not do what a check forbids
            groups.setdefault(part.convert, []).append(part)
    shared = [group for group in groups.values() if len(group) > 1]
    if not compiles_here(backend) or not shared:
        yield
        return
    outputs: dict[Hashable, tuple[Any, Any]] = {}
    for group in shared:
        try:
            outputs.update(_run_together(group, case, backend))
        except Exception:  # the shared program failed: each part runs alone, as it would
            continue
    token = _TOGETHER.set((backend.name, case, outputs))
    try:
        yield
    finally:
        _TOGETHER.reset(token)


#: What a part that failed inside a shared trace leaves in its static slot.
_FAILED = object()


def _run_together(
    parts: Sequence[Part], case: Any, backend: Backend
) -> dict[Hashable, tuple[Any, Any]]:
    """Each part's ``(arrays, static)`` from one program (the parts share ``convert``)."""
    converted = parts[0].convert(case, backend)
    key = program_key(backend, ("together", *(p.what for p in parts)), case.spec, converted)
    dtype = case.dtype

    def build() -> tuple[Callable[..., Any], list[Any]]:
        statics: list[Any] = [_FAILED] * len(parts)  # filled when the program is traced

        def program(leaves: list[Any]) -> dict[int, Any]:
            token = _TRACING.set((case, dtype, with_arguments(converted, leaves)))
            out = {}
            try:
                with staged():  # the loops inside become lax.scan
                    for k, part in enumerate(parts):
                        try:
                            out[k], statics[k] = part.fn(case, backend)
                        except Exception:  # left out: it runs alone when called, raises there
                            statics[k] = _FAILED
            finally:
                _TRACING.reset(token)
            return out

        return backend.jit(program), statics

    program, held = cached_program(key, build)
    arrays = program(arguments(converted))
    return {part.what: (arrays[k], held[k]) for k, part in enumerate(parts)
            if held[k] is not _FAILED and k in arrays}


def compiles_here(backend: Backend) -> bool:
    """Whether a run on ``backend`` here is a compiled program: the backend compiles, no
    trace is under way (a nested run is part of the outer program), and no nonlinearity
    is rounded (``model.rounded_nonlinearities`` is not in the key: a program would bake
    the rounding in, or miss it)."""
    from rnn_oracle.model import rounding_active

    return ("jit" in backend.capabilities and _TRACING.get() is None
            and not rounding_active())


def _traced(
    fn: Traceable, case: Any, backend: Backend, converted: Any
) -> tuple[Callable[..., Any], list[Any]]:
    """The compiled program of ``fn`` for ``case``'s structure, and the holder of its static
    part (filled when the program is first traced)."""
    static: list[Any] = [None]
    dtype = case.dtype

    def program(leaves: list[Any]) -> Any:
        token = _TRACING.set((case, dtype, with_arguments(converted, leaves)))
        try:
            with staged():  # the loops inside become lax.scan: one traced step whatever T
                arrays, static[0] = fn(case, backend)
        finally:
            _TRACING.reset(token)
        return arrays

    return backend.jit(program), static


@dataclass(frozen=True)
class _Static:
    """What a derivation's Reference holds besides its arrays."""

    method: str
    dtype: str
    names: tuple[str, ...]  #: the gradients' order (a program returns dicts sorted)
    lazy: tuple[str, ...]  #: the lazy fields the derivation gives


def compiled(
    convert: Callable[[Any, Backend], Any],
    check: Callable[[Any], None] | None = None,
) -> Callable[[Callable[[Any, Backend], Reference]], Callable[[Any, Backend], Reference]]:
    """Decorate a derivation ``run(case, backend) -> Reference`` to run as one compiled
    program per structure (:func:`run_compiled`) where the backend compiles.

    The loss, the gradients and the hidden-state gradients come from the program; lazy
    extras (per-step contributions, local partials) from an eager run when first read.
    ``check(case)`` runs first on every call, compiled or not: a cached program runs no
    Python, so a check on module state (rtrl's memory budget) goes there.
    """

    def decorate(run: Callable[[Any, Backend], Reference]) -> Callable[[Any, Backend], Reference]:
        def traceable(case: Any, backend: Backend) -> tuple[Any, _Static]:
            ref = run(case, backend)
            lazy = tuple(n for n in _LAZY_FIELDS if getattr(ref, n) is not None)
            static = _Static(ref.method, ref.dtype, tuple(ref.grads), lazy)
            return (ref.loss, dict(ref.grads), ref.hidden_grads), static

        @functools.wraps(run)
        def gradients(case: Any, backend: Backend) -> Reference:
            if check is not None:
                check(case)
            if not compiles_here(backend):
                return run(case, backend)
            (loss, grads, hidden_grads), static = run_compiled(
                run, traceable, convert, case, backend
            )
            eager = functools.cache(lambda: run(case, backend))
            return Reference(
                static.method, backend.name, static.dtype, loss,
                {n: grads[n] for n in static.names},
                hidden_grads=hidden_grads,
                **{n: LazyMapping(lambda n=n: getattr(eager(), n),  # type: ignore[misc]
                                  lambda: backend.precision(case.dtype))
                   for n in static.lazy},
            )

        _PARTS[gradients] = Part(run, traceable, convert, check)
        return gradients

    return decorate
