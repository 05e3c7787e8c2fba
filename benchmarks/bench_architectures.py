"""Time hand BPTT of every architecture and cell against torch autograd and torch's modules.

    python benchmarks/bench_architectures.py [--repeats N]

One size, float64, CPU: T = 32, batch 16, n_x = 32, n_h = 64, n_y = 16, 2 layers for
stacked and deep_bidirectional, softmax cross-entropy. Per architecture × cell (tanh, gru,
lstm), the columns are ``network_reference(case, backend, "bptt")`` on NumPy and torch (our
hand BPTT), ``network_reference(case, "torch", "autodiff")`` (torch autograd of our forward
pass), and, where torch has the architecture as one module, ``torch.nn.RNN/GRU/LSTM`` with
the same weights + ``backward()`` (many_to_many, many_to_one, stacked, bidirectional,
deep_bidirectional; torch's CPU kernels, no cuDNN). Ratios are against torch autograd of our
model. Each time is the best of ``--repeats`` runs after one warm-up run. Torch columns are
left out when torch is not installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from timing import best_of

from backends import available_backends
from rnn_oracle.architectures import NetworkSpec, make_network_case, network_reference
from rnn_oracle.architectures.case import NetworkCase

SIZE = {"n_x": 32, "n_h": 64, "n_y": 16}
T, B = 32, 16
CELLS = ("tanh", "gru", "lstm")
ARCHS = ("many_to_many", "many_to_one", "one_to_many", "encoder_decoder", "stacked",
         "bidirectional", "deep_bidirectional")
MODULES = {"tanh": "RNN", "gru": "GRU", "lstm": "LSTM"}


def torch_module(case: NetworkCase) -> Callable[[], Any] | None:
    """``torch.nn.RNN/GRU/LSTM`` with the case's weights, forward + head + backward."""
    import torch

    spec = case.spec
    if spec.architecture not in ("many_to_many", "many_to_one", "stacked", "bidirectional",
                                 "deep_bidirectional"):
        return None
    a = case.arrays
    module = getattr(torch.nn, MODULES[spec.cell])(
        spec.n_x, spec.n_h, num_layers=spec.layers, bidirectional=spec.bidirectional,
        dtype=torch.float64)
    dirs = ("forward", "backward") if spec.bidirectional else ("forward",)
    with torch.no_grad():
        for k in range(spec.layers):
            for d in dirs:
                suffix = "_reverse" if d == "backward" else ""
                p = f"layer{k}.{d}."
                getattr(module, f"weight_ih_l{k}{suffix}").copy_(torch.tensor(a[p + "W_xh"]))
                getattr(module, f"weight_hh_l{k}{suffix}").copy_(torch.tensor(a[p + "W_hh"]))
                if spec.cell == "tanh":
                    getattr(module, f"bias_ih_l{k}{suffix}").copy_(torch.tensor(a[p + "b_h"]))
                    getattr(module, f"bias_hh_l{k}{suffix}").zero_()
                else:
                    getattr(module, f"bias_ih_l{k}{suffix}").copy_(torch.tensor(a[p + "b_xh"]))
                    getattr(module, f"bias_hh_l{k}{suffix}").copy_(torch.tensor(a[p + "b_hh"]))
    prefixes = [f"layer{k}.{d}." for k in range(spec.layers) for d in dirs]
    h0 = torch.tensor(np.stack([a[p + "h0"] for p in prefixes]), requires_grad=True)
    c0 = torch.tensor(np.stack([a[p + "c0"] for p in prefixes]), requires_grad=True) \
        if spec.cell == "lstm" else None
    x = torch.tensor(a["inputs"], requires_grad=True)
    W_hy = torch.tensor(a["W_hy"], requires_grad=True)
    b_y = torch.tensor(a["b_y"], requires_grad=True)
    targets = torch.tensor(case.targets)

    def run() -> None:
        module.zero_grad()
        for t in (h0, x, W_hy, b_y, c0):
            if t is not None:
                t.grad = None
        out, _ = module(x, (h0, c0) if c0 is not None else h0)
        top = out[-1:] if spec.architecture == "many_to_one" else out
        logits = top @ W_hy.T + b_y
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, spec.n_y), targets.reshape(-1), reduction="sum")
        loss.backward()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    has_torch = "torch" in available_backends()
    if has_torch:
        import torch

        torch.set_num_threads(torch.get_num_threads())
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"T={T} B={B} n_x={SIZE['n_x']} n_h={SIZE['n_h']} n_y={SIZE['n_y']}, float64; "
          "ms (÷ torch autograd of our model)")
    header = ["network", "numpy bptt"]
    if has_torch:
        header += ["torch bptt", "torch autograd", "torch.nn module"]
    print("  ".join(f"{h:>24}" if k else f"{h:<28}" for k, h in enumerate(header)))
    for arch in ARCHS:
        for cell in CELLS:
            spec = NetworkSpec(arch, cell, **SIZE)  # type: ignore[arg-type]
            case = make_network_case(spec, T, B, seed=0)
            times: list[float | None] = [
                best_of(lambda c=case: network_reference(c, "numpy", "bptt"), args.repeats)]
            if has_torch:
                times.append(best_of(lambda c=case: network_reference(c, "torch", "bptt"),
                                     args.repeats))
                times.append(best_of(lambda c=case: network_reference(c, "torch", "autodiff"),
                                     args.repeats))
                peer = torch_module(case)
                times.append(None if peer is None else best_of(peer, args.repeats))
            ref = times[2] if has_torch else None
            cells = []
            for t in times:
                if t is None:
                    cells.append(f"{'-':>24}")
                else:
                    ratio = f" ({t / ref:.2f}x)" if ref else ""
                    cells.append(f"{t * 1e3:>14.1f}{ratio:>10}")
            print(f"{spec.label:<28}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
