"""The rows of a compiling backend (JAX), computed in worker threads.

Much of what JAX costs a verify run is XLA compiling its programs, and XLA releases the
GIL while it compiles: in worker threads that time overlaps with the next program's
tracing and with the NumPy and torch rows the calling thread computes meanwhile, on the
machine's other core. The jobs are the rows' computations (each case's
:class:`~rnn_oracle.Reference`); the comparison with the baseline, the report and every
progress call stay in the calling thread, which compares the other backends' rows first
(while the workers compute), and the report is assembled in matrix order, the same
whichever thread ran a row.

Each job runs in a copy of the caller's context (:mod:`contextvars`) as it was when the
job was submitted: context-scoped settings (``rnn_oracle.model.rounded_nonlinearities``)
reach the workers as they would reach an inline call. JAX's x64 switch is per thread
and per scope already: every job enters ``backend.precision`` itself.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Generic, TypeVar

from backends import declared_capabilities

#: Rows of backends with this capability run in the workers (they compile).
CAPABILITY = "jit"

#: Worker threads: two, so that while one waits for XLA to compile a program, the other
#: traces the next (tracing is Python and holds the GIL; compiling does not). Measured on
#: the 2-core machine (load about 1.3): verify --all-architectures on NumPy and JAX 18-20 s
#: with two, 29-33 s with one; verify --cases 2 6.0-6.8 s with two, 6.9-7.6 s with one.
WORKERS = 2


def runs_in_background(backend: str) -> bool:
    """Whether ``backend``'s rows are computed in the worker threads."""
    return CAPABILITY in declared_capabilities(backend)


#: A job's key: which row (and entry) it computes.
Key = TypeVar("Key", bound=Hashable)


class Background(Generic[Key]):
    """Jobs by key, run in :data:`WORKERS` worker threads, started in order as soon as
    they are given; their results are collected by key. Jobs are independent computations
    (each its own cases).

    Use as a context manager: on exit, jobs not yet started are cancelled and the one
    running is waited for, so no job outlives the matrix that made it.
    """

    def __init__(self, jobs: Mapping[Key, Callable[[], Any]]) -> None:
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="rnn-oracle-rows")
        # Each in a copy of the caller's context as it is now (see the module docstring).
        self._futures = {key: self._pool.submit(contextvars.copy_context().run, job)
                         for key, job in jobs.items()}

    def result(self, key: Key) -> Any:
        """The result of the job under ``key``, waiting for it (a second call returns the
        same); its exception is raised here, in the calling thread."""
        return self._futures[key].result()

    def __enter__(self) -> Background[Key]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
