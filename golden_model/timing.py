"""Every latency of the core, in cycles: one definition, read by the cycle model and the RTL.

The RTL builds its pipelines to these numbers (``panacea_hdl.rtl.lanes``, ``compensator``,
``top``) and the cycle model (:mod:`golden_model.cycle_model`) predicts with them; the
cycle-exact tests hold the two together.
"""

from __future__ import annotations

__all__ = ["ISSUE_CYCLES", "MAC_STAGES", "COMBINE_CYCLE", "TERM_LATENCY", "DRAIN_CYCLES",
           "HANDOFF_CYCLES", "REQUANT_CYCLES", "load_overlaps"]

#: Register stages between the skip controller's issue and the PEAs' issue inputs.
ISSUE_CYCLES = 1
#: Register stages of a MAC lane, from an issue at a PEA's inputs to its accumulators
#: (digits, products, their sum, accumulate).
MAC_STAGES = 4
#: Cycles from an issue to its lane's combine stage, where the operators gate their products
#: with the issue's valid (and the DWO's tile).
COMBINE_CYCLE = MAC_STAGES - 1
#: A LOAD write in cycle t is in the compensator's term from cycle t + TERM_LATENCY.
TERM_LATENCY = 4
#: Cycles between the last operand of a pass and its results being final.
DRAIN_CYCLES = ISSUE_CYCLES + MAC_STAGES
#: Cycles to move a pass's results into the output bank when the pass is not chained (the
#: block's last pass, or the bank still busy): the copy (from a register, for Fmax). The bank
#: is found empty in the last DRAIN cycle (or in WAIT_BANK cycles after it, while the bank
#: still sends). A chained pass (the pass overlap) copies in the cycle after its DRAIN_CYCLES
#: while the next pass already runs: no cycles of its own.
HANDOFF_CYCLES = 1

assert TERM_LATENCY <= MAC_STAGES, "a MAC right after the LOAD must land after the term"
#: Register stages of the requantization stage between the output bank and ``y`` (builds with
#: ``config.requant`` only, whether a GEMM enables it or not): bias add, the four 16 x 16
#: partial products of the 32 x 32 multiply, two half sums, the product, + rounding nudge, the
#: high word, the right shift and the rounding bit, their sum, the zero point and clamp — at
#: most one carry chain per stage (``panacea_hdl.rtl.requant``).
REQUANT_CYCLES = 9


def load_overlaps(K: int, k_max: int, header: int = 0) -> bool:
    """Whether each column block's LOAD after the first runs behind the previous block's passes.

    The weight buffer is used as two halves of ``k_max // 2`` rows (ping-pong): while a block's
    passes read one half, the next block's K rows are written into the other one (the write
    port is idle during passes) and the compensator builds its term in a second term register
    set. That needs ``K <= k_max // 2``; a GEMM with a requantization header (``header`` beats
    per block on ``w``) keeps the LOAD in front of each block (its header parameters are not
    double-buffered). With an always-valid ``w`` the next LOAD (K cycles, from the block's
    first pass) is complete before the block's last pass ends (a pass is at least K cycles),
    so the next block's first pass follows the HANDOFF at once: K cycles saved per block after
    the first.
    """
    return header == 0 and K <= k_max // 2
