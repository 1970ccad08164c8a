"""AQS-GEMM: the exact slice-level computation of every mode — the executable specification.

Target of every mode: ``Y[m, n] = sum_k (A[m, k] - z) * W[k, n]`` as int32.

With ``A = 2**L AH + AL``, ``W = 16 WH + WL``, ``C[n] = sum_k W[k, n]`` and the skip value ``s``
of the mode (``dense``: nothing skipped, s = 0; ``sibia``: s = 0; ``aqs``: s = r)::

    Y = 2**L * sum_{k not skipped} (AH - s) * W      DWO  (sparse high-order work)
      +        sum_k  AL * W                         SWO  (dense low-order work)
      + (2**L * s - z) * C                           compensator (static form)

A skippable *vector* is the G high-order slices of one tile (G consecutive rows) at one k;
it is skipped when all its slices equal ``s``. Rows are padded to a whole number of passes
(``tiles_per_pass`` tiles) with activations ``s * 2**L`` (high slice ``s``, low slice 0), which the
hardware computes and discards.

The *run-time* compensation form skips a vector whose slices are each 0 or ``s`` and adds
``2**L * s * sum_{skipped k with AH[m,k] == s} W[k, n]`` built from the skipped weight rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ACC_BITS, PanaceaConfig
from .slicing import check_activation, check_split, check_weight, split_activation

__all__ = ["MODES", "COMPENSATIONS", "reference_gemm", "choose_r", "skip_value", "SlicePlan",
           "slice_plan", "aqs_gemm", "check_zero_point"]

MODES = ("dense", "sibia", "aqs")
COMPENSATIONS = ("static", "runtime")


def check_zero_point(z) -> int:
    if isinstance(z, bool) or not isinstance(z, (int, np.integer)):
        raise ValueError(f"zero point must be an int, got {type(z).__name__} ({z!r})")
    if not 0 <= int(z) <= 255:
        raise ValueError(f"zero point must be in [0, 255], got {z}")
    return int(z)


def _check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def _check_shapes(A, W):
    if A.shape[1] != W.shape[0]:
        raise ValueError(f"shape mismatch: activation is {A.shape[0]}x{A.shape[1]} (M x K), "
                         f"weight is {W.shape[0]}x{W.shape[1]} (K x N); K must agree")


def _to_int32(Y64):
    lo, hi = -(1 << (ACC_BITS - 1)), (1 << (ACC_BITS - 1)) - 1
    if Y64.size and (Y64.min() < lo or Y64.max() > hi):
        raise OverflowError("result does not fit int32")
    return Y64.astype(np.int32)


def reference_gemm(A, W, z) -> np.ndarray:
    """Plain integer reference ``(A - z) @ W`` as int32 (no slicing)."""
    A, W, z = check_activation(A), check_weight(W), check_zero_point(z)
    _check_shapes(A, W)
    # float64 is exact here: |sum| <= 255 * 128 * K << 2**53
    Y = (A.astype(np.float64) - z) @ W.astype(np.float64)
    return _to_int32(Y.astype(np.int64))


def choose_r(A, L) -> int:
    """The r-value: the most frequent high-order slice of the tensor (ties: the smallest).

    Chosen per tensor: the frequent high slice comes from the per-tensor zero point, so one
    r serves the whole GEMM and the hardware holds it in one register.
    """
    AH, _ = split_activation(check_activation(A), L)
    if AH.size == 0:
        return 0
    return int(np.argmax(np.bincount(AH.reshape(-1), minlength=1 << (8 - check_split(L)))))


def skip_value(mode, r) -> int:
    """High-order value whose vectors a mode skips (dense skips none; returns 0)."""
    _check_mode(mode)
    return int(r) if mode == "aqs" else 0


@dataclass
class SlicePlan:
    """What the hardware will skip for one activation matrix.

    Attributes
    ----------
    AH, AL : uint8 arrays (Mp, K), slices of the row-padded activations.
    s : skip value of the mode.
    vec_skip : bool array (tiles, K): vector (tile t, k) is skipped.
    """

    mode: str
    L: int
    r: int
    s: int
    M: int
    AH: np.ndarray
    AL: np.ndarray
    vec_skip: np.ndarray
    group_size: int

    @property
    def tiles(self):
        return self.vec_skip.shape[0]

    def stats(self) -> dict:
        """Slice statistics on the real rows and on the hardware's vectors."""
        AH = self.AH[: self.M]
        n = max(1, AH.size)
        vecs = max(1, self.vec_skip.size)
        return {
            "mode": self.mode, "L": self.L, "r": self.r, "skip_value": self.s,
            "frac_ho_eq_r": float((AH == self.r).sum() / n),
            "frac_ho_zero": float((AH == 0).sum() / n),
            "vectors": int(self.vec_skip.size),
            "vectors_skipped": int(self.vec_skip.sum()),
            "frac_vectors_skipped": float(self.vec_skip.sum() / vecs),
        }


def slice_plan(A, *, mode, L, r, cfg: PanaceaConfig, compensation="static") -> SlicePlan:
    """Slice, pad and find the skipped vectors of ``A`` for a mode."""
    A = check_activation(A)
    L = check_split(L)
    _check_mode(mode)
    if compensation not in COMPENSATIONS:
        raise ValueError(f"compensation must be one of {COMPENSATIONS}, got {compensation!r}")
    hi = (1 << (8 - L)) - 1
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 0 <= int(r) <= hi:
        raise ValueError(f"r must be an int in [0, {hi}] for L={L}, got {r!r}")
    s = skip_value(mode, r)
    M, K = A.shape
    G, rows = cfg.group_size, cfg.rows_per_pass
    Mp = -(-M // rows) * rows
    Ap = np.full((Mp, K), s << L, dtype=np.uint8)
    Ap[:M] = A
    AH, AL = split_activation(Ap, L)
    tiles = AH.reshape(Mp // G, G, K)
    if mode == "dense":
        vec_skip = np.zeros((Mp // G, K), dtype=bool)
    elif compensation == "static" or s == 0:
        vec_skip = (tiles == s).all(axis=1)
    else:
        vec_skip = ((tiles == s) | (tiles == 0)).all(axis=1)
    return SlicePlan(mode=mode, L=L, r=int(r), s=s, M=M, AH=AH, AL=AL, vec_skip=vec_skip,
                     group_size=G)


def _accumulate(X, W, bound):
    """``X @ W`` exactly for small-integer X with ``|X| <= bound`` and int8 W.

    This is what a PE accumulator holds: each cycle a lane adds ``x * WL + ((x * WH) << 4)``,
    which equals ``x * W`` (the signed-digit identity, tested in ``tests/test_golden.py``).
    float32 BLAS when every partial sum is an exact float32 integer (K * bound * 128 < 2**24),
    else float64 (exact below 2**53).
    """
    K = X.shape[1]
    dt = np.float32 if K * max(1, bound) * 128 < (1 << 24) else np.float64
    return (X.astype(dt, copy=False) @ W.astype(dt)).astype(np.int64)


def aqs_gemm(A, W, z, *, mode, L=4, r=None, cfg: PanaceaConfig | None = None,
             compensation="static"):
    """Compute ``(A - z) @ W`` slice by slice as the hardware does.

    Returns ``(Y, plan)``: the int32 result (M x N) and the :class:`SlicePlan`.
    ``r`` defaults to :func:`choose_r`.
    """
    A, W, z = check_activation(A), check_weight(W), check_zero_point(z)
    _check_shapes(A, W)
    cfg = cfg or PanaceaConfig()
    if r is None:
        r = choose_r(A, L)
    plan = slice_plan(A, mode=mode, L=L, r=r, cfg=cfg, compensation=compensation)
    M, G, L, s = A.shape[0], cfg.group_size, plan.L, plan.s
    active = ~np.repeat(plan.vec_skip, G, axis=0)               # Mp x K
    hmax = (1 << (8 - L)) - 1
    if compensation == "static":
        DH = (plan.AH.astype(np.float32) - s) * active          # DWO operands (AH - s)
    else:
        DH = plan.AH.astype(np.float32) * active
    acc_h = _accumulate(DH, W, hmax)                            # DWO accumulators
    acc_l = _accumulate(plan.AL, W, (1 << L) - 1)               # SWO accumulators
    Y = (acc_h << L) + acc_l
    C = W.astype(np.int64).sum(0)                               # compensator column sums
    if compensation == "static":
        Y += ((s << L) - z) * C
    else:
        R = (plan.AH == s) & ~active                            # skipped slices equal to s
        Y += (s << L) * _accumulate(R, W, 1) - z * C
    return _to_int32(Y[:M]), plan
