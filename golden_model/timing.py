"""Every latency of the core, in cycles: one definition, read by the cycle model and the RTL.

The RTL builds its pipelines to these numbers (``panacea_hdl.rtl.lanes``, ``compensator``,
``top``) and the cycle model (:mod:`golden_model.cycle_model`) predicts with them; the
cycle-exact tests hold the two together.
"""

from __future__ import annotations

__all__ = ["ISSUE_CYCLES", "MAC_STAGES", "COMBINE_CYCLE", "TERM_LATENCY", "DRAIN_CYCLES",
           "HANDOFF_CYCLES", "REQUANT_CYCLES"]

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
