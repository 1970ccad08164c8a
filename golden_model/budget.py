"""Multiplier budget of each hardware variant, to compare the baselines at equal footing.

The measure is the **partial-product bits** of the multipliers that work for one output
column of a pass: a ``p``-bit by ``q``-bit multiplier has ``p * q`` partial-product bits (its
AND array; adder trees and area grow with it). All variants keep ``rows_per_pass`` (T x G, T = ``tiles_per_pass``) and
``cols`` equal, so the same GEMM tiles the same way; ``docs/baselines.md`` discusses the
numbers.

* ``panacea``: SWO, T x G lanes of ``AL x WL`` and ``AL x WH`` (AL ``lo_bits`` unsigned, WL 4-bit
  and WH 5-bit signed digits); DWO, G lanes of ``D x WL`` and ``D x WH`` with
  ``D = AH - s`` (``ho_bits + 1`` bits, signed).
* ``sibia``: the same arrays, but ``s`` is the constant 0, so ``D = AH`` needs ``ho_bits``
  bits (the generated sign bit is constant 0 and synthesis removes it).
* ``dense``: T x G lanes of one ``A x W`` (8 x 8 bits).
"""

from __future__ import annotations

from .config import ACT_BITS, WEIGHT_BITS, PanaceaConfig
from .slicing import WEIGHT_SLICE_SHIFT

__all__ = ["multiplier_budget", "WL_BITS", "WH_BITS"]

#: Widths of the signed weight digits: WL in [-8, 7], WH in [-8, 8].
WL_BITS = WEIGHT_SLICE_SHIFT
WH_BITS = WEIGHT_SLICE_SHIFT + 1


def multiplier_budget(cfg: PanaceaConfig) -> dict:
    """Multipliers and their partial-product bits, per output column and for the whole core.

    Returns
    -------
    dict
        ``variant``; ``multipliers_per_col``; ``pp_bits_per_col`` (total) with the parts
        ``swo_pp_bits_per_col``, ``dwo_pp_bits_per_col``, ``int8_pp_bits_per_col``;
        ``pp_bits`` (whole core: per column x ``cols``).
    """
    G, rows = cfg.group_size, cfg.rows_per_pass
    swo = dwo = int8 = 0
    mults = 0
    if not cfg.caps.sliced:
        int8 = rows * ACT_BITS * WEIGHT_BITS
        mults = rows
    else:
        d_bits = cfg.ho_bits + (1 if cfg.caps.skip_value else 0)
        swo = rows * (cfg.lo_bits * WL_BITS + cfg.lo_bits * WH_BITS)
        dwo = G * (d_bits * WL_BITS + d_bits * WH_BITS)
        mults = 2 * rows + 2 * G
    per_col = swo + dwo + int8
    return {
        "variant": cfg.variant,
        "multipliers_per_col": mults,
        "swo_pp_bits_per_col": swo,
        "dwo_pp_bits_per_col": dwo,
        "int8_pp_bits_per_col": int8,
        "pp_bits_per_col": per_col,
        "pp_bits": per_col * cfg.cols,
    }
