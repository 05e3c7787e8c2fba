"""The reliability campaign: correct implementations on many random cases (false alarms,
inconclusive rate, vacuous passes) and mutants of them (power).

    python -m tests.campaign.run [--cases N] [--workers K] [--quick] [--power-every P]

Exit status 0 when there is no false alarm and no vacuous pass, 1 otherwise. Progress goes
to stderr, the table to stdout; false alarms are also written to ``--false-alarms`` (one
repro per line).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import numpy as np

from tests.campaign.targets import DTYPES, FAMILIES, MUTATIONS, Job, allocate

_INITIALISED = False


def _init_worker() -> None:
    """Frameworks load inside the worker, one thread each (every core runs one worker)."""
    global _INITIALISED
    if _INITIALISED:
        return
    _INITIALISED = True
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                          "intra_op_parallelism_threads=1")
    try:
        import torch

        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
    except (ImportError, RuntimeError):
        pass
    try:
        import jax

        # Every check wraps the cell anew (a new jit): the persistent cache compiles each
        # shape once per run instead of once per check.
        jax.config.update("jax_compilation_cache_dir", "/tmp/rnn_oracle_campaign_jax_cache")
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    except (ImportError, AttributeError):
        pass


def _zero_passes(g: Any) -> bool:
    """Would an all-zero gradient have passed where ``g`` was judged (its reference and
    bounds)? An entry fails only where both its absolute and relative error exceed them."""
    R = np.asarray(g.reference, dtype=np.float64)
    if R.size == 0 or not np.any(R != 0):
        return False  # a zero reference: zero is the right answer, not a vacuous pass
    diff = np.abs(R)
    rel = diff / np.maximum(diff, 1e-8)
    return not bool(np.any((diff > g.atol) & (rel > g.rtol)))


def run_job(job: Job) -> dict[str, Any]:
    """Check the correct target of ``job`` and, on the power subset, its mutants."""
    _init_worker()
    import rnn_oracle as ro
    from tests.campaign import targets

    planned = targets.plan(job)
    out: dict[str, Any] = {"family": job.family, "dtype": job.dtype, "index": job.index,
                           "repro": planned.repro(), "mutants": {}}
    t0 = time.perf_counter()
    try:
        report = ro.check_gradients(planned.make(None), **planned.kwargs)
    except Exception as exc:  # a crash on correct code is reported, not hidden
        out.update(verdict="error", error=f"{type(exc).__name__}: {exc}",
                   trace=traceback.format_exc(limit=3))
        return out
    out["verdict"] = report.verdict
    out["draws"] = len(report.cases)
    out["vacuous"] = [g.name for g in report.gradients
                      if g.verdict == "ok" and _zero_passes(g)]
    if report.verdict == "wrong":
        worst = [g for g in report.gradients if g.verdict not in ("ok", "inconclusive")]
        out["detail"] = "; ".join(f"{g.name}: {g.message} (atol {g.atol:.3g}, seed {g.seed})"
                                  for g in worst)
    if report.verdict == "inconclusive":
        out["detail"] = next((c.reason for c in report.cases if c.reason), "")
    out["seconds"] = time.perf_counter() - t0
    if not job.power or not targets.FAMILY_BY_NAME[job.family].mutants:
        return out
    for mutation in MUTATIONS:
        targets.DIFFERS.clear()
        try:
            mreport = ro.check_gradients(planned.make(mutation), **planned.kwargs)
            verdict = mreport.verdict
        except Exception as exc:
            verdict = f"error: {type(exc).__name__}: {exc}"
        out["mutants"][mutation] = (verdict, targets.DIFFERS.get(mutation, False))
    return out


def _jobs(total: int, base_seed: int, power_every: int) -> list[Job]:
    jobs = []
    for family, n in allocate(total).items():
        for dtype_no, dtype in enumerate(DTYPES):
            share = n // 2 + (n % 2 if dtype_no == 0 else 0)
            for i in range(share):
                jobs.append(Job(family, dtype, i, base_seed, power=i % power_every == 0))
    # Expensive families first, so that the pool's tail is made of cheap jobs.
    jobs.sort(key=lambda j: (not j.family.startswith(("flax", "torch")), j.index))
    return jobs


def _pct(k: int, n: int) -> str:
    return "—" if n == 0 else f"{100 * k / n:.1f}%"


def table(results: Sequence[dict[str, Any]], power_every: int) -> str:
    rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        rows[(r["family"], r["dtype"])].append(r)
    order = [(f.name, d) for f in FAMILIES for d in DTYPES if (f.name, d) in rows]
    head = (f"{'family':<22} {'dtype':<8} {'cases':>6} {'false':>5} {'error':>5} "
            f"{'inconcl':>7} {'draws':>5} {'vacuous':>7} "
            + " ".join(f"{m:>14}" for m in MUTATIONS))
    lines = [
        "Power is measured on a seeded subset: every case whose index within its (family, "
        f"dtype) is a multiple of {power_every}; a mutant counts as detected only on verdict "
        "'wrong', out of the cases where it changes the gradient by > 0.5 % of its largest "
        "entry (shown as detected/applicable). 'false': verdict 'wrong' on correct code; "
        "'error': the check raised; 'inconcl': checks whose verdict is 'inconclusive'; "
        "'draws': mean cases drawn per check (replacements included); 'vacuous': passes "
        "where a zero gradient would also pass on the judged case.",
        head, "-" * len(head),
    ]

    def row(label: str, dtype: str, rs: list[dict[str, Any]]) -> str:
        n = len(rs)
        false = sum(r.get("verdict") == "wrong" for r in rs)
        errors = sum(r.get("verdict") == "error" for r in rs)
        inconcl = sum(r.get("verdict") == "inconclusive" for r in rs)
        draws = [r["draws"] for r in rs if "draws" in r]
        vac = sum(bool(r.get("vacuous")) for r in rs)
        cells = []
        for m in MUTATIONS:
            applicable = [r["mutants"][m] for r in rs if m in r["mutants"] and r["mutants"][m][1]]
            if not any(m in r["mutants"] for r in rs):
                cells.append(f"{'n/a':>14}")
                continue
            hit = sum(v == "wrong" for v, _ in applicable)
            cells.append(f"{_pct(hit, len(applicable)):>6} {hit:>3}/{len(applicable):<3}"
                         if len(applicable) < 1000 else
                         f"{_pct(hit, len(applicable)):>6} {hit}/{len(applicable)}")
        mean_draws = f"{np.mean(draws):.2f}" if draws else "—"
        return (f"{label:<22} {dtype:<8} {n:>6} {false:>5} {errors:>5} "
                f"{_pct(inconcl, n):>7} {mean_draws:>5} {vac:>7} " + " ".join(cells))

    for key in order:
        lines.append(row(*key, rows[key]))
    lines.append("-" * len(head))
    for dtype in DTYPES:
        lines.append(row("total", dtype, [r for r in results if r["dtype"] == dtype]))
    lines.append(row("TOTAL", "both", list(results)))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.campaign.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=30_000,
                        help="correct-code checks in all (default 30000)")
    parser.add_argument("--quick", action="store_true", help="a few hundred cases (400)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--power-every", type=int, default=None,
                        help="run the mutants on every P-th case (default 10; 4 with --quick)")
    parser.add_argument("--seed", type=int, default=2024, help="base seed of every case")
    parser.add_argument("--false-alarms", default="/tmp/campaign_false_alarms.txt",
                        help="where false alarms are written (one repro per line)")
    parser.add_argument("--log", default=None,
                        help="append every result to this JSON-lines file as it comes")
    parser.add_argument("--table-from", default=None, metavar="LOG",
                        help="print the table of a (partial) --log file and exit")
    args = parser.parse_args(argv)
    total = 400 if args.quick else args.cases
    power_every = args.power_every or (4 if args.quick else 10)
    if args.table_from:
        with open(args.table_from, encoding="utf-8") as fh:
            logged = [json.loads(line) for line in fh if line.strip()]
        print(table(logged, power_every))
        print(f"\n{len(logged)} checks logged")
        return 0
    if total < 1 or args.workers < 1 or power_every < 1:
        parser.error("--cases, --workers and --power-every must be positive")
    jobs = _jobs(total, args.seed, power_every)
    print(f"campaign: {len(jobs)} correct-code checks, mutants on every {power_every}th, "
          f"{args.workers} workers, base seed {args.seed}", file=sys.stderr)
    start = time.perf_counter()
    results: list[dict[str, Any]] = []
    alarms: list[dict[str, Any]] = []
    step = max(1, len(jobs) // 1000)
    log = open(args.log, "a", encoding="utf-8") if args.log else None  # noqa: SIM115
    with ProcessPoolExecutor(max_workers=args.workers, initializer=_init_worker) as pool:
        futures = [pool.submit(run_job, j) for j in jobs]
        for done, future in enumerate(as_completed(futures), 1):
            r = future.result()
            results.append(r)
            if log is not None:
                log.write(json.dumps(r) + "\n")
                log.flush()
            if r.get("verdict") in ("wrong", "error") or r.get("vacuous"):
                alarms.append(r)
                what = ("FALSE ALARM" if r["verdict"] == "wrong" else
                        "ERROR" if r["verdict"] == "error" else "VACUOUS PASS")
                print(f"\n{what} [{r['family']} {r['dtype']} #{r['index']}] {r['repro']}\n"
                      f"  {r.get('detail') or r.get('error') or r.get('vacuous')}",
                      file=sys.stderr, flush=True)
            if done % step == 0 or done == len(jobs):
                elapsed = time.perf_counter() - start
                eta = elapsed / done * (len(jobs) - done)
                print(f"\r{done}/{len(jobs)} checks, {elapsed:.0f} s, ETA {eta:.0f} s, "
                      f"{len(alarms)} alarm(s)", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if log is not None:
        log.close()
    wall = time.perf_counter() - start
    print(table(results, power_every))
    print(f"\nwall time {wall:.0f} s with {args.workers} workers; {len(results)} checks")
    false = [r for r in results if r.get("verdict") == "wrong"]
    vacuous = [r for r in results if r.get("vacuous")]
    errors = [r for r in results if r.get("verdict") == "error"]
    with open(args.false_alarms, "w", encoding="utf-8") as fh:
        for r in false:
            fh.write(f"{r['family']} {r['dtype']} #{r['index']}: {r['repro']}"
                     f"  # {r.get('detail')}\n")
    for label, rs in (("false alarms", false), ("vacuous passes", vacuous), ("errors", errors)):
        if rs:
            print(f"\n{label} ({len(rs)}):")
            for r in rs:
                why = r.get("detail") or r.get("error") or r.get("vacuous")
                print(f"  {r['repro']}\n    -> {why}")
    if false:
        print(f"\nfalse alarms written to {args.false_alarms}")
    return 1 if false or vacuous or errors else 0


if __name__ == "__main__":
    sys.exit(main())
