#!/usr/bin/env python
"""The LOAD overlap (issue 14.3) before / after, on the cycle model (the RTL equals it cycle for
cycle: ``scripts/bench_rtl.py --blocks B`` runs the same GEMMs on the RTL).

"Before" is the same model with the overlap switched off (``load_overlaps`` -> False: every
block's LOAD in front of its passes), so the two columns differ only by the overlap. Prints:
aqs / ideal and dense-mode DWO utilisation at 256 x 256 x N (N = 1, 2, 4 column blocks of
``default``), and the cycles of MiniLM-like layer shapes per variant (panacea aqs, sibia,
dense INT8 array).

    python scripts/bench_load_overlap.py
"""

import sys
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from golden_model import cycle_model  # noqa: E402
from golden_model.aqs_gemm import choose_r  # noqa: E402
from golden_model.config import preset  # noqa: E402
from golden_model.tiling import predict_gemm  # noqa: E402
from golden_model.workloads import random_weights, skewed_activations  # noqa: E402


def predict(cfg, A, W, z, mode, *, overlap, L=4):
    """The GEMM's prediction, tiled as the host tiles it (``golden_model.tiling``), with or
    without the LOAD overlap."""
    r = choose_r(A, L) if mode == "aqs" else 0
    if overlap:
        return predict_gemm(A, W.shape[1], mode=mode, L=L, r=r, cfg=cfg)[0]
    with mock.patch.object(cycle_model, "load_overlaps", lambda *a, **k: False):
        return predict_gemm(A, W.shape[1], mode=mode, L=L, r=r, cfg=cfg)[0]


def main():
    cfg = preset("default")
    M = K = 256
    print("== aqs / ideal bound, default, skewed activations (spread 0.5 / 6 / 12), 256 x 256 x N ==")
    print(f"{'N':>4} {'blocks':>6} {'spread':>6} {'aqs before':>11} {'aqs after':>10} "
          f"{'ideal':>7} {'before':>7} {'after':>7}")
    for blocks in (1, 2, 4):
        N = blocks * cfg.cols
        for spread in (0.5, 6.0, 12.0):
            A = skewed_activations(M, K, seed=11, spread=spread)
            W = random_weights(K, N, seed=11)
            b = predict(cfg, A, W, 100, "aqs", overlap=False)
            a = predict(cfg, A, W, 100, "aqs", overlap=True)
            ideal = a.work["ideal_cycles"]
            print(f"{N:4d} {blocks:6d} {spread:6.1f} {b.counters['cycles']:11d} "
                  f"{a.counters['cycles']:10d} {ideal:7d} {ideal / b.counters['cycles']:7.2%} "
                  f"{ideal / a.counters['cycles']:7.2%}")
    print("\n== dense mode: DWO busy / cycles (the bound operator), default ==")
    for blocks in (1, 2, 4):
        N = blocks * cfg.cols
        for M2, K2 in ((256, 256), (512, 256), (512, 512)):
            A = skewed_activations(M2, K2, seed=5)
            W = random_weights(K2, N, seed=5)
            b = predict(cfg, A, W, 100, "dense", overlap=False).counters
            a = predict(cfg, A, W, 100, "dense", overlap=True).counters
            print(f"  N={N:4d} M={M2:4d} K={K2:4d}: before {b['dwo_busy'] / b['cycles']:.2%} "
                  f"({b['cycles']}), after {a['dwo_busy'] / a['cycles']:.2%} ({a['cycles']})")
    print("\n== MiniLM-like layers (65 tokens), skewed activations; cycles before -> after ==")
    shapes = ((65, 384, 384), (65, 384, 1536), (65, 1536, 384))
    variants = (("default", "aqs"), ("default_sibia", "sibia"), ("default_dense", "dense"))
    total = {v: [0, 0] for v, _ in variants}
    for (M2, K2, N2) in shapes:
        A = skewed_activations(M2, K2, seed=7)
        W = random_weights(K2, N2, seed=7)
        line = []
        for name, mode in variants:
            c = preset(name)
            b = predict(c, A, W, 100, mode, overlap=False).counters["cycles"]
            a = predict(c, A, W, 100, mode, overlap=True).counters["cycles"]
            total[name][0] += b
            total[name][1] += a
            line.append(f"{name} {b} -> {a} ({b / a:.3f}x)")
        print(f"  {M2}x{K2}x{N2}: " + "; ".join(line))
    print("  sum of the three: " + "; ".join(
        f"{n} {b} -> {a} ({b / a:.3f}x)" for n, (b, a) in total.items()))


if __name__ == "__main__":
    main()
