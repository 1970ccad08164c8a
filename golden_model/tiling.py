"""Host-side tiling of GEMMs larger than one run of the core.

One run of the core computes ``(A - z) @ W`` for ``K <= cfg.k_max`` (the weight buffer depth)
and ``M, N <= DIM_MAX`` (the 16-bit DIM registers, :data:`golden_model.config.DIM_BITS`).
A larger GEMM is cut into *tiles*, each one run of the core:

- **K** into ``ceil(K / k_max)`` slices of near-equal length; each slice's int32 partial sums
  ``(A[:, k0:k1] - z) @ W[k0:k1, :]`` are exact, and the host adds them (int64, then checked
  to fit int32: ``K <= K_ACC_MAX`` guarantees it);
- **M** and **N** into blocks of at most ``DIM_MAX`` rows / columns, cut at multiples of the
  pass height (``rows_per_pass``) and of the columns per pass (``cols``), so each tile's
  passes and column blocks are exactly those of the whole GEMM.

- with an activation buffer (``cfg.act_buffer_bytes``), **M** also into row blocks of at most
  ``cfg.abuf_max_passes(K slice)`` passes: the most whose ``lo`` beats and ``ho`` words fit the
  buffer whatever the data (every vector a literal), so every run replays its activations
  from the buffer for all its column blocks instead of receiving them once per column block.

External traffic of an M x K x N GEMM (one K slice; B = ceil(N / cols) column blocks,
R = row blocks): without a buffer ``B * act + weights + out``; with it
``act + R * weights + out`` (act = the compressed activations, weights = K x N int8 beats,
out = the results). R is as small as the buffer allows (``ceil(passes / max_passes)``), which
minimises the traffic: the weights are re-read once per row block, the activations never.

Loop order: column range, then row range, then K slice (the K slices of one output block
run back to back). Every tile is computed by the golden model and predicted by the cycle model
on its own; the GEMM's counters, memory traffic, work and energy are the sums over its tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .aqs_gemm import SlicePlan, _to_int32, aqs_gemm, check_zero_point
from .config import DIM_MAX, K_ACC_MAX, PanaceaConfig
from .cycle_model import Prediction, predict
from .slicing import check_activation, check_weight

__all__ = ["Tile", "TileRun", "TiledGemm", "plan_tiles", "tiled_gemm", "combine_predictions",
           "combine_stats"]


@dataclass(frozen=True)
class Tile:
    """One run of the core: rows ``m0:m1`` of A, reduction ``k0:k1``, columns ``n0:n1`` of W."""

    m0: int
    m1: int
    k0: int
    k1: int
    n0: int
    n1: int

    @property
    def shape(self):
        """``(M, K, N)`` of this run."""
        return self.m1 - self.m0, self.k1 - self.k0, self.n1 - self.n0

    def to_dict(self) -> dict:
        return {"m": [self.m0, self.m1], "k": [self.k0, self.k1], "n": [self.n0, self.n1]}


def _cuts(total: int, step: int):
    return [(a, min(a + step, total)) for a in range(0, total, step)]


def plan_tiles(M: int, K: int, N: int, cfg: PanaceaConfig) -> list[Tile]:
    """The runs of the core that compute an M x K x N GEMM (one tile when it fits).

    Raises
    ------
    ValueError
        If a dimension is < 1, or ``K > K_ACC_MAX`` (the int32 result could overflow).
    """
    for name, v in (("M", M), ("K", K), ("N", N)):
        if v < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")
    if K > K_ACC_MAX:
        raise ValueError(f"K={K} is too long: the int32 result (|Y| <= 255*128*K) could "
                         f"overflow; K must be <= {K_ACC_MAX}")
    nk = math.ceil(K / cfg.k_max)
    k_bounds = np.linspace(0, K, nk + 1).round().astype(int)      # near-equal K slices
    k_cuts = [(int(a), int(b)) for a, b in zip(k_bounds[:-1], k_bounds[1:])]
    m_step = DIM_MAX // cfg.rows_per_pass * cfg.rows_per_pass
    if cfg.act_buffer_bytes:     # row blocks whose activations fit the buffer (>= 1 pass)
        k_long = max(b - a for a, b in k_cuts)
        m_step = min(m_step, cfg.abuf_max_passes(k_long) * cfg.rows_per_pass)
    n_step = DIM_MAX // cfg.cols * cfg.cols
    return [Tile(m0, m1, k0, k1, n0, n1)
            for n0, n1 in _cuts(N, n_step)
            for m0, m1 in _cuts(M, m_step)
            for k0, k1 in k_cuts]


@dataclass
class TileRun:
    """A tile with what the golden model computed for it."""

    tile: Tile
    plan: SlicePlan
    Y: np.ndarray            #: int32 partial result, tile M x tile N
    prediction: Prediction


@dataclass
class TiledGemm:
    """The golden model's account of one (possibly tiled) GEMM.

    Attributes
    ----------
    Y : int32 array (M x N)
        The exact result, the tiles' partial sums added.
    runs : list of TileRun
        One per run of the core, in execution order.
    prediction : Prediction
        Sum over the tiles (utilizations recomputed from the sums).
    stats : dict
        Slice statistics of the whole activation matrix (each (m, k) tile counted once).
    """

    Y: np.ndarray
    runs: list = field(default_factory=list)
    prediction: Prediction | None = None
    stats: dict | None = None

    @property
    def tiled(self) -> bool:
        return len(self.runs) > 1


def combine_predictions(preds) -> Prediction:
    """Sum of per-run predictions; ``*_utilization`` recomputed from the summed busy cycles."""
    preds = list(preds)
    if len(preds) == 1:
        return preds[0]

    def add(dicts):
        return {k: sum(d[k] for d in dicts) for k in dicts[0]}
    counters = add([p.counters for p in preds])
    work = add([{k: v for k, v in p.work.items() if not k.endswith("_utilization")} for p in preds])
    work["swo_utilization"] = counters["swo_busy"] / counters["cycles"]
    work["dwo_utilization"] = counters["dwo_busy"] / counters["cycles"]
    return Prediction(counters=counters, memory=add([p.memory for p in preds]),
                      energy_pj=add([p.energy_pj for p in preds]), work=work)


def combine_stats(plans) -> dict:
    """Slice statistics over several plans (disjoint parts of one activation matrix)."""
    plans = list(plans)
    if len(plans) == 1:
        return plans[0].stats()
    first = plans[0]
    n = sum(p.AH[: p.M].size for p in plans)
    vecs = sum(p.vec_skip.size for p in plans)
    skipped = sum(int(p.vec_skip.sum()) for p in plans)
    return {
        "mode": first.mode, "L": first.L, "r": first.r, "skip_value": first.s,
        "frac_ho_eq_r": float(sum(int((p.AH[: p.M] == p.r).sum()) for p in plans) / max(1, n)),
        "frac_ho_zero": float(sum(int((p.AH[: p.M] == 0).sum()) for p in plans) / max(1, n)),
        "vectors": int(vecs),
        "vectors_skipped": int(skipped),
        "frac_vectors_skipped": float(skipped / max(1, vecs)),
    }


def tiled_gemm(A, W, z, *, mode, L, r, cfg: PanaceaConfig, compensation="static") -> TiledGemm:
    """Compute ``(A - z) @ W`` as the core does it, tile by tile (:func:`plan_tiles`).

    Parameters
    ----------
    A : uint8 array (M x K); W : int8 array (K x N) in [-127, 127]; z : zero point in [0, 255]
    mode, L, r, compensation : as :func:`golden_model.aqs_gemm.aqs_gemm` (one r and one L
        for the whole GEMM: every tile uses them).
    cfg : PanaceaConfig
        The design whose limits cut the tiles and whose cycle model predicts each run.

    Returns
    -------
    TiledGemm
    """
    A, W, z = check_activation(A), check_weight(W), check_zero_point(z)
    if A.shape[1] != W.shape[0]:
        raise ValueError(f"shape mismatch: activation is {A.shape[0]}x{A.shape[1]} (M x K), "
                         f"weight is {W.shape[0]}x{W.shape[1]} (K x N); K must agree")
    M, K = A.shape
    N = W.shape[1]
    tiles = plan_tiles(M, K, N, cfg)
    Y64 = np.zeros((M, N), dtype=np.int64)
    runs = []
    for t in tiles:
        Wt = W[t.k0:t.k1, t.n0:t.n1]
        Yt, plan = aqs_gemm(A[t.m0:t.m1, t.k0:t.k1], Wt, z, mode=mode, L=L, r=r, cfg=cfg,
                            compensation=compensation)
        Y64[t.m0:t.m1, t.n0:t.n1] += Yt
        runs.append(TileRun(tile=t, plan=plan, Y=Yt, prediction=predict(plan, t.n1 - t.n0, cfg)))
    first_n = runs[0].tile.n0
    stats = combine_stats(run.plan for run in runs if run.tile.n0 == first_n)
    return TiledGemm(Y=_to_int32(Y64), runs=runs,
                     prediction=combine_predictions(run.prediction for run in runs), stats=stats)


def predict_gemm(A, N: int, *, mode, L, r, cfg: PanaceaConfig):
    """Cycle / memory / energy prediction and slice statistics of ``A`` (uint8, M x K) times a
    K x N weight, tiled as :func:`plan_tiles` cuts it (weight values change none of it).

    Returns
    -------
    (Prediction, stats, tiles)
        The summed prediction, the slice statistics of ``A`` (:meth:`SlicePlan.stats` keys)
        and the number of runs of the core.
    """
    from .aqs_gemm import slice_plan

    A = check_activation(A)
    M, K = A.shape
    tiles = plan_tiles(M, K, N, cfg)
    plans = {}
    preds = []
    for t in tiles:
        key = (t.m0, t.m1, t.k0, t.k1)
        if key not in plans:
            plans[key] = slice_plan(A[t.m0:t.m1, t.k0:t.k1], mode=mode, L=L, r=r, cfg=cfg)
        preds.append(predict(plans[key], t.n1 - t.n0, cfg))
    return combine_predictions(preds), combine_stats(plans.values()), len(tiles)
