"""SWO: the static workload operator of one PEA (dense low-order work).

``rows_per_pass x pea_cols`` processing elements. Each PE multiplies the unsigned low-order
activation slice ``AL`` of its row by the two signed digits of the weight of its column and
accumulates ``AL*WL + ((AL*WH) << 4)`` into its 32-bit accumulator ``accL``.
The accumulators live here.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden_model.config import ACC_BITS
from golden_model.slicing import WEIGHT_SLICE_SHIFT

from .layouts import check_config, lo_beat_layout, w_row_layout
from .weight_buffer import weight_digits

__all__ = ["SWO"]


class SWO(wiring.Component):
    """Dense low-order MAC array with its accumulators ``accL``.

    Pipeline: an issue (``en``) in cycle t registers the operands ``al``; the weight row read
    for it (``w``, from a synchronous read port addressed in cycle t) is valid in cycle t+1,
    when the slice products are formed and added into ``acc`` at the edge ending t+1.

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
    clear : In(1)
        Zero the accumulators at the end of this cycle. It wins over a MAC completing in the
        same cycle.
    acc : Out(ArrayLayout(signed(32), rows_per_pass * pea_cols))
        ``accL``, lane ``row * pea_cols + col``.
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        super().__init__({
            "en": In(1),
            "al": In(lo_beat_layout(cfg)),
            "w": In(w_row_layout(cfg)),
            "clear": In(1),
            "acc": Out(data.ArrayLayout(signed(ACC_BITS), cfg.rows_per_pass * cfg.pea_cols)),
        })

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        rows, cols = cfg.rows_per_pass, cfg.pea_cols

        # stage 1 operands, registered at the issue
        valid = Signal(name="mac_valid")
        al = Signal(lo_beat_layout(cfg), name="al_r")
        m.d.sync += valid.eq(self.en)
        with m.If(self.en):
            m.d.sync += al.eq(self.al)

        digits = [weight_digits(self.w[c]) for c in range(cols)]  # shared by all rows
        for r in range(rows):
            for c in range(cols):
                wh, wl = digits[c]
                a = al[r]
                prod = Signal(signed(cfg.lo_bits + 8 + 2), name=f"p_{r}_{c}")
                m.d.comb += prod.eq(a * wl + ((a * wh) << WEIGHT_SLICE_SHIFT))
                lane = self.acc[r * cols + c]
                with m.If(self.clear):
                    m.d.sync += lane.eq(0)
                with m.Elif(valid):
                    m.d.sync += lane.eq(lane + prod)
        return m
