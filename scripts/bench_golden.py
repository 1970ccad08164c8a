#!/usr/bin/env python
"""Benchmark: golden AQS-GEMM against a float64 BLAS matmul of the same shape (ratio, one run).

Prints figures; asserts nothing. Goal (issue 2): the golden AQS-GEMM within 3x of the BLAS
matmul. Also times ``panacea gemm`` end to end (process start, .npy I/O, report).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from golden_model.aqs_gemm import MODES, aqs_gemm, reference_gemm  # noqa: E402
from golden_model.config import preset  # noqa: E402
from golden_model.cycle_model import predict  # noqa: E402
from golden_model.workloads import random_weights, skewed_activations  # noqa: E402


def best_of(fn, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs=3, default=(512, 1536, 384), metavar=("M", "K", "N"))
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    M, K, N = args.shape
    cfg = preset("default")
    A = skewed_activations(M, K, seed=1)
    W = random_weights(K, N, seed=1)
    z = 100
    Af, Wf = A.astype(np.float64), W.astype(np.float64)
    blas_min, blas_med = best_of(lambda: Af @ Wf, args.reps)
    print(f"GEMM {M} x {K} x {N}; float64 BLAS matmul: min {blas_min * 1e3:.1f} ms, median {blas_med * 1e3:.1f} ms")
    ref = reference_gemm(A, W, z)
    aqs_gemm(A, W, z, mode="aqs", L=4, cfg=cfg)          # warm-up (thread pool, page faults)
    for mode in MODES:
        # interleave the two timings so that load from other processes hits both alike
        ratios, t_aqs = [], []
        for _ in range(args.reps):
            t_b, _ = best_of(lambda: Af @ Wf, 1)
            t_a, _ = best_of(lambda: aqs_gemm(A, W, z, mode=mode, L=4, cfg=cfg), 1)
            ratios.append(t_a / t_b)
            t_aqs.append(t_a)
        Y, plan = aqs_gemm(A, W, z, mode=mode, L=4, cfg=cfg)
        assert np.array_equal(Y, ref)
        p_min, _ = best_of(lambda: predict(plan, N, cfg), 3)
        print(f"  aqs_gemm mode={mode:5s}: min {min(t_aqs) * 1e3:6.1f} ms; ratio to BLAS, median of "
              f"{args.reps} interleaved pairs {statistics.median(ratios):4.2f}x (min {min(ratios):4.2f}x); "
              f"cycle model {p_min * 1e3:.1f} ms; skipped vectors {plan.stats()['frac_vectors_skipped']:.3f}")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        np.save(d / "A.npy", A)
        np.save(d / "W.npy", W)
        cmd = [sys.executable, "-m", "panacea_hdl.cli", "gemm", "--act", str(d / "A.npy"),
               "--weight", str(d / "W.npy"), "--zero-point", str(z), "--mode", "aqs",
               "--out", str(d / "Y.npy"), "--report", str(d / "r.json"), "-q"]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        e2e = time.perf_counter() - t
        assert np.array_equal(np.load(d / "Y.npy"), ref)
    print(f"panacea gemm end to end (aqs, incl. process start and I/O): {e2e:.2f} s")


if __name__ == "__main__":
    main()
