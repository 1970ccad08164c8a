"""SWO: the static workload operator of one PEA (dense low-order work).

``rows_per_pass x pea_cols`` processing elements. Each PE multiplies the unsigned low-order
activation slice ``AL`` of its row by the two signed digits of the weight of its column and
delivers ``AL*WL + ((AL*WH) << 4)`` to the PEA's accumulators
(:class:`~panacea_hdl.rtl.pea.accumulators.Accumulators`), through the MAC pipeline of
:mod:`panacea_hdl.rtl.lanes`.

Every lane has its own product signal and its own output port (``p`` is an array of
members, not one wide vector): a wide value built from per-lane slices makes event-driven
simulators (Icarus) re-evaluate the whole vector whenever one lane changes, which made the
``default`` preset simulate at a few cycles per second.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib.wiring import In, Out

from panacea_hdl.rtl.lanes import (COMBINE_CYCLE, combine_stage, delay, digit_stage, operand_stage,
                                   product_range, product_stage, signed_bits)
from panacea_hdl.rtl.layouts import ConfigComponent, check_config, lo_beat_layout, w_row_layout

__all__ = ["SWO"]


class SWO(ConfigComponent):
    """Dense low-order MAC array: ``rows_per_pass (T x G) x pea_cols`` slice-product lanes.

    Pipeline (:mod:`panacea_hdl.rtl.lanes`): an issue (``en``) in cycle t registers the operands
    ``al``; the weight row (``w``, read by a synchronous port addressed in cycle t) is valid in
    cycle t+1, when its digits are registered; the slice products are registered at the edge
    ending t+2 and combined at the edge ending t+3: ``p`` shows the MAC in cycle t+4 (0 without
    one), and the accumulators add it at the edge ending t+4.

    Parameters
    ----------
    config : PanaceaConfig

    Attributes
    ----------
    en : In(1)
        Issue a MAC of the beat ``al`` this cycle.
    al : In(lo_beat_layout)
        Low-order slices of the ``rows_per_pass`` rows (lane i = row i).
    w : In(w_row_layout)
        Weight row of the issue of the previous cycle (read data).
    p : Out(signed(lo_bits + 8)).array(rows_per_pass * pea_cols)
        ``AL * W`` of lane ``row * pea_cols + col`` of the issue four cycles earlier, 0 if
        there was none.
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        super().__init__({
            "en": In(1),
            "al": In(lo_beat_layout(cfg)),
            "w": In(w_row_layout(cfg)),
            "p": Out(signed(signed_bits(*product_range(0, (1 << cfg.lo_bits) - 1)))).array(
                cfg.rows_per_pass * cfg.pea_cols),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        rows, cols = cfg.rows_per_pass, cfg.pea_cols

        # issue: operands registered; then carried beside the digit stage
        al = Signal(lo_beat_layout(cfg), name="al_r")
        with m.If(self.en):
            m.d.sync += al.eq(self.al)
        valid = delay(m, self.en, COMBINE_CYCLE, name="valid")

        digits = digit_stage(m, self.w, name="w")         # shared by all rows
        operands = [operand_stage(m, al[r], name=f"al_{r}") for r in range(rows)]
        for r in range(rows):
            for c in range(cols):
                prods = product_stage(m, operands[r], digits[c], name=f"p_{r}_{c}")
                [p] = combine_stage(m, prods, name=f"p_{r}_{c}", gates=[valid])
                m.d.comb += self.p[r * cols + c].eq(p)
        return m
