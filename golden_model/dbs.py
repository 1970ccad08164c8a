"""Distribution-based bit-slicing (DBS): choose the activation split L of one layer.

The split ``A = 2**L * AH + AL`` decides how many activation values share one high-order
value: a wider low-order slice (larger L) puts a wider band of values around the zero point
into the r bucket, so more high-order vectors are skippable; in hardware only the output
shift of the high-order accumulator and the slice widths change. Every L is exact
(:func:`golden_model.aqs_gemm.aqs_gemm` computes ``(A - z) @ W`` for any L), so DBS is a pure
cost choice.

For each L in ``cfg.splits``: ``r = choose_r(A, L)``, the plan of the mode and the hardware's
cost ``cycle_model.predict(plan, N, cfg)``. The chosen L has the fewest cycles; ties go to
fewer high-order slice products (``work["ho_products"]``), then to the L closest to 4, then
to the smaller L.

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
from .cycle_model import Prediction, predict
from .slicing import check_activation

__all__ = ["DBSResult", "choose_split"]


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
    """

    L: int
    r: int
    mode: str
    N: int
    table: dict
    plan: SlicePlan = field(repr=False)
    prediction: Prediction = field(repr=False)

    def to_dict(self) -> dict:
        """JSON-serializable summary (split keys as strings)."""
        return {"L": self.L, "r": self.r, "mode": self.mode, "N": self.N,
                "table": {str(L): dict(row) for L, row in self.table.items()}}


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
    if not isinstance(cfg, PanaceaConfig):
        raise ValueError(f"cfg must be a PanaceaConfig, got {type(cfg).__name__}")
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
        raise ValueError(f"N must be an int >= 1, got {N!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    N = int(N)
    table, best, best_key = {}, None, None
    for L in cfg.splits:
        r = choose_r(A, L)
        plan = slice_plan(A, mode=mode, L=L, r=r, cfg=cfg)
        pred = predict(plan, N, cfg)
        st = plan.stats()
        row = {"r": r, "cycles": int(pred.counters["cycles"]),
               "frac_vectors_skipped": st["frac_vectors_skipped"],
               "frac_ho_eq_r": st["frac_ho_eq_r"],
               "ho_products": int(pred.work["ho_products"]),
               "energy_pj": float(pred.energy_pj["total"])}
        table[L] = row
        key = (row["cycles"], row["ho_products"], abs(L - 4), L)
        if best_key is None or key < best_key:
            best, best_key = (L, r, plan, pred), key
    L, r, plan, pred = best
    return DBSResult(L=L, r=r, mode=mode, N=N, table=table, plan=plan, prediction=pred)
