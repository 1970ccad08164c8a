"""Distribution-based bit-slicing (DBS): choose the activation split L of one layer.

The split ``A = 2**L * AH + AL`` decides how many activation values share one high-order
value: a wider low-order slice (larger L) puts a wider band of values around the zero point
into the r bucket, so more high-order vectors are skippable; in hardware only the output
shift of the high-order accumulator and the slice widths change. Every L is exact
(:func:`golden_model.aqs_gemm.aqs_gemm` computes ``(A - z) @ W`` for any L), so DBS is a pure
cost choice.

For each L in ``cfg.splits``: ``r = choose_r(A, L)``, the plan of the mode and the hardware's
cost ``tiling.predict_gemm`` (the cycle model, tiled where K exceeds ``k_max``). The chosen L has the fewest cycles; ties go to
fewer high-order slice products (``work["ho_products"]``), then to the L closest to 4, then
to the smaller L.

ZPM and DBS interact: the best zero-point shift depends on L (it moves the bulk of the
distribution inside one bucket of width ``2**L``), so a shift searched at L = 4 can be a poor
one at L = 5. :func:`choose_split_zpm` searches them jointly: ZPM at every L, then the L with
the fewest cycles after its own shift.

Example
-------
>>> import numpy as np
>>> from golden_model.config import preset
>>> from golden_model.dbs import choose_split
>>> A = np.random.default_rng(0).integers(32, 64, size=(16, 64)).astype(np.uint8)
>>> choose_split(A, N=16, cfg=preset("default")).L
5
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .aqs_gemm import MODES, SlicePlan, choose_r, slice_plan
from .config import PanaceaConfig
from .cycle_model import Prediction
from .quant import ActQuant
from .slicing import check_activation
from .tiling import predict_gemm
from .zpm import DEFAULT_CLIP_BUDGET, DEFAULT_SHIFT_RANGE, ZPMResult, zpm_search

__all__ = ["DBSResult", "choose_split", "choose_split_zpm"]


@dataclass
class DBSResult:
    """Outcome of :func:`choose_split`.

    Attributes
    ----------
    L, r : int
        The chosen split and its r-value.
    table : dict
        ``{L: {"r", "cycles", "frac_vectors_skipped", "frac_ho_eq_r", "ho_products",
        "energy_pj"}}`` for every supported split.
    plan : SlicePlan
        Plan of the chosen split.
    prediction : Prediction
        Cycle-model prediction of the chosen split.
    zpm : ZPMResult or None
        The zero-point shift of the chosen split (:func:`choose_split_zpm` only).
    """

    L: int
    r: int
    mode: str
    N: int
    table: dict
    plan: SlicePlan = field(repr=False)
    prediction: Prediction = field(repr=False)
    zpm: ZPMResult | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """JSON-serializable summary (split keys as strings)."""
        d = {"L": self.L, "r": self.r, "mode": self.mode, "N": self.N,
             "table": {str(L): dict(row) for L, row in self.table.items()}}
        if self.zpm is not None:
            d["zpm"] = {k: v for k, v in self.zpm.to_dict().items() if k != "candidates"}
        return d


def _check_common(cfg, N, mode):
    if not isinstance(cfg, PanaceaConfig):
        raise ValueError(f"cfg must be a PanaceaConfig, got {type(cfg).__name__}")
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
        raise ValueError(f"N must be an int >= 1, got {N!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return int(N)


def _row(A, L, r, N, cfg, mode):
    plan = slice_plan(A, mode=mode, L=L, r=r, cfg=cfg)
    pred, st, _ = predict_gemm(A, N, mode=mode, L=L, r=r, cfg=cfg)
    row = {"r": r, "cycles": int(pred.counters["cycles"]),
           "frac_vectors_skipped": st["frac_vectors_skipped"],
           "frac_ho_eq_r": st["frac_ho_eq_r"],
           "ho_products": int(pred.work["ho_products"]),
           "energy_pj": float(pred.energy_pj["total"])}
    key = (row["cycles"], row["ho_products"], abs(L - 4), L)
    return row, key, plan, pred


def choose_split(A, *, N, cfg: PanaceaConfig, mode="aqs") -> DBSResult:
    """Choose the split L in ``cfg.splits`` with the lowest predicted cycle count.

    Parameters
    ----------
    A : uint8 ndarray (M, K)
        Quantized activations of the layer.
    N : int
        Output columns of the GEMM (weights do not change the cost, only their count).
    cfg : PanaceaConfig
    mode : {"dense", "sibia", "aqs"}

    Returns
    -------
    DBSResult
    """
    A = check_activation(A, "A")
    N = _check_common(cfg, N, mode)
    table, best, best_key = {}, None, None
    for L in cfg.splits:
        r = choose_r(A, L)
        row, key, plan, pred = _row(A, L, r, N, cfg, mode)
        table[L] = row
        if best_key is None or key < best_key:
            best, best_key = (L, r, plan, pred), key
    L, r, plan, pred = best
    return DBSResult(L=L, r=r, mode=mode, N=N, table=table, plan=plan, prediction=pred)


def choose_split_zpm(x, q: ActQuant, *, N, cfg: PanaceaConfig, shift_range=DEFAULT_SHIFT_RANGE,
                     clip_budget=DEFAULT_CLIP_BUDGET) -> DBSResult:
    """Joint ZPM + DBS for the aqs mode: the best shift at every split, then the cheapest split.

    For each L in ``cfg.splits``: ``zpm_search(x, q, L=L, group_size=cfg.group_size, ...)``,
    then the cost of its activations at L with its r; the split is chosen as in
    :func:`choose_split`. The table rows also carry the shift ``d`` and ``zero_point`` of each
    L; ``result.zpm`` is the :class:`~golden_model.zpm.ZPMResult` of the chosen L (its
    ``act`` and ``A`` are the parameters and activations to run with).
    """
    N = _check_common(cfg, N, "aqs")
    table, best, best_key = {}, None, None
    for L in cfg.splits:
        z = zpm_search(x, q, L=L, group_size=cfg.group_size, shift_range=shift_range,
                       clip_budget=clip_budget)
        row, key, plan, pred = _row(z.A, L, z.r, N, cfg, "aqs")
        row.update(d=z.d, zero_point=z.zero_point, clip=z.clip_after)
        table[L] = row
        if best_key is None or key < best_key:
            best, best_key = (L, z, plan, pred), key
    L, z, plan, pred = best
    return DBSResult(L=L, r=z.r, mode="aqs", N=N, table=table, plan=plan, prediction=pred, zpm=z)
