"""The worker thread of a verify matrix (``rnn_oracle._background``): the report does not
depend on which thread computed a row, errors reach the caller, context reaches the jobs."""

from __future__ import annotations

import contextvars

import pytest

from rnn_oracle._background import Background

_SETTING: contextvars.ContextVar[str] = contextvars.ContextVar("_SETTING", default="unset")


def test_jobs_run_in_the_callers_context_and_results_come_by_key() -> None:
    token = _SETTING.set("caller's")
    try:
        jobs = {k: (lambda k=k: (k, _SETTING.get())) for k in range(4)}
        with Background(jobs) as background:
            got = [background.result(k) for k in (3, 0, 2, 1)]
            assert background.result(3) is got[0]  # computed once
    finally:
        _SETTING.reset(token)
    assert got == [(3, "caller's"), (0, "caller's"), (2, "caller's"), (1, "caller's")]


def test_a_worker_job_raises_in_the_caller() -> None:
    def fail() -> None:
        raise ValueError("from the worker")

    with Background({"a": fail, "b": lambda: 1}) as background:
        with pytest.raises(ValueError, match="from the worker"):
            background.result("a")
        assert background.result("b") == 1


def test_the_report_is_the_same_without_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row, status and verdict alike; the errors alike to rounding (the worker runs
    JAX's methods as one program, inline each is its own, and XLA may round the two
    differently)."""
    pytest.importorskip("jax")
    from rnn_oracle import RNNSpec, verify
    from rnn_oracle._verify import Row
    from rnn_oracle.architectures import NetworkSpec, verify_architectures

    def both() -> list[tuple[Row, ...]]:
        single = verify([RNNSpec(cell="relu", n_x=2, n_h=3, n_y=2)], seq_len=2,
                        seeds=(0, 1), backends=["numpy", "jax"])
        networks = verify_architectures([NetworkSpec("stacked", "tanh", n_x=2, n_h=2, n_y=2),
                                         NetworkSpec("many_to_one", "gru", n_x=2, n_h=2,
                                                     n_y=2)],
                                        backends=["numpy", "jax"])
        assert single.verdict == networks.verdict == "right"
        return [single.rows, *(e.report.rows for e in networks.entries)]

    threaded = both()
    for module in ("rnn_oracle._verify", "rnn_oracle.architectures.verify"):
        monkeypatch.setattr(f"{module}.runs_in_background", lambda backend: False)
    inline = both()
    for matrix, other in zip(threaded, inline, strict=True):
        for row, same in zip(matrix, other, strict=True):
            assert (row.method, row.backend, row.status, row.passed) == (
                same.method, same.backend, same.status, same.passed)
            assert [c.name for c in row.cells] == [c.name for c in same.cells]
            for cell, twin in zip(row.cells, same.cells, strict=True):
                assert cell.passed == twin.passed
                assert cell.error == pytest.approx(twin.error, abs=1e-13)


def test_a_method_that_fails_in_the_worker_is_a_disagreement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A patched (broken) derivation reaches the worker: its rows fail, never pass."""
    pytest.importorskip("jax")
    from rnn_oracle.architectures import NetworkSpec, reference, verify_architectures

    def broken(case: object, be: object) -> None:
        raise RuntimeError("a broken derivation")

    monkeypatch.setitem(reference._RUNNERS, "autodiff", broken)
    report = verify_architectures([NetworkSpec("many_to_one", "tanh", n_x=2, n_h=2, n_y=2)],
                                  methods=["bptt", "autodiff"], backends=["numpy", "jax"])
    row = report.entries[0].report.row("autodiff", "jax")
    assert row is not None and row.status == "error: RuntimeError: a broken derivation"
    assert report.verdict == "wrong"


@pytest.mark.parametrize("module", ["rnn_oracle._verify", "rnn_oracle.architectures.verify"])
def test_every_backend_loads_before_the_workers_start(
    module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that inspects an array while the calling thread is still importing torch
    finds a half-made module and fails (it did: ``partially initialized module 'torch' has
    no attribute 'Tensor'`` in one run of three). So no backend may load once they run."""
    import importlib

    from rnn_oracle import _verify

    matrix = importlib.import_module(module)
    loaded: list[str] = []
    started: list[list[str]] = []
    real_broken = _verify.broken_backends

    def recording(backends: list[str], installed: set[str]) -> dict[str, str]:
        loaded.extend(backends)
        return real_broken(backends, installed)

    class Recorder(Background):  # type: ignore[type-arg]
        def __enter__(self) -> Background:  # type: ignore[type-arg]
            started.append(list(loaded))
            return super().__enter__()

    monkeypatch.setattr(_verify, "broken_backends", recording)
    monkeypatch.setattr(matrix, "Background", Recorder)
    backends = ["numpy", "torch", "jax"]
    if module == "rnn_oracle._verify":
        from rnn_oracle import RNNSpec, verify

        verify([RNNSpec(n_x=2, n_h=2, n_y=2)], seq_len=2, methods=["bptt"], backends=backends)
    else:
        from rnn_oracle.architectures import NetworkSpec, verify_architectures

        verify_architectures([NetworkSpec("many_to_one", "tanh", n_x=2, n_h=2, n_y=2)],
                             methods=["bptt"], backends=backends)
    assert len(started) == 1
    assert set(started[0]) == set(backends) and len(loaded) == len(started[0])
