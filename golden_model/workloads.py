"""Built-in deterministic workloads: skewed, asymmetric activations like a transformer's.

Real layer inputs (measured on MiniLM, ``docs/minilm.md``) sit mostly in a narrow band around
the zero point, with a few wide "outlier" channels. :func:`skewed_activations` draws that
shape directly in the integer domain: per channel a Laplace spread whose scale is log-normal
across channels, centred at ``center``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["skewed_activations", "random_weights", "builtin_workload"]


def skewed_activations(M: int, K: int, *, seed: int = 0, center: int = 104,
                       spread: float = 4.0) -> np.ndarray:
    """uint8 activations (M x K): ``clip(round(center + Laplace(0, b_k)))``, b_k log-normal."""
    rng = np.random.default_rng(seed)
    b = spread * rng.lognormal(0.0, 0.7, size=K)
    x = center + rng.laplace(0.0, 1.0, size=(M, K)) * b
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def random_weights(K: int, N: int, *, seed: int = 0) -> np.ndarray:
    """int8 weights (K x N) in [-127, 127], roughly Gaussian like trained per-channel weights."""
    rng = np.random.default_rng(seed + 1)
    return np.clip(np.rint(rng.normal(0, 32, size=(K, N))), -127, 127).astype(np.int8)


def builtin_workload(*, M: int = 24, K: int = 256, N: int = 40, seed: int = 2025):
    """The main job's workload ``(A, W, z)``: shapes not multiples of any tile on purpose."""
    A = skewed_activations(M, K, seed=seed)
    return A, random_weights(K, N, seed=seed), 100
