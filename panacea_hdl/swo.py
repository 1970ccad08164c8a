"""SWO: the static workload operator of one PEA (dense low-order work).

``rows_per_pass x pea_cols`` processing elements. Each PE multiplies the unsigned low-order
activation slice ``AL`` of its row by the two signed digits of the weight of its column and
accumulates ``AL*WL + ((AL*WH) << 4)`` into its 32-bit accumulator ``accL``.
The accumulators live here.

Every lane has its own product and accumulator signal and its own output port (``acc`` is an
array of 32-bit members, not one wide vector): a wide value built from 32-bit slices makes
event-driven simulators (Icarus) re-evaluate the whole vector whenever one lane changes, which
made the ``default`` preset simulate at a few cycles per second.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden_model.config import ACC_BITS

from .layouts import check_config, lo_beat_layout, w_row_layout
from .lanes import lane_accumulator, slice_product
from .weight_buffer import weight_digits

__all__ = ["SWO"]


class SWO(wiring.Component):
    """Dense low-order MAC array with its accumulators ``accL``.

    Pipeline: an issue (``en``) in cycle t registers the operands ``al``; the weight row read
    for it (``w``, from a synchronous read port addressed in cycle t) is valid in cycle t+1,
    when the slice products are formed and registered at the edge ending t+1; they are added
    into ``acc`` at the edge ending t+2 (visible from t+3).

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
        same cycle (issued two cycles earlier); MACs issued later still complete.
    acc : Out(signed(32)).array(rows_per_pass * pea_cols)
        ``accL``, one member (one port) per lane ``row * pea_cols + col``.
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        super().__init__({
            "en": In(1),
            "al": In(lo_beat_layout(cfg)),
            "w": In(w_row_layout(cfg)),
            "clear": In(1),
            "acc": Out(signed(ACC_BITS)).array(cfg.rows_per_pass * cfg.pea_cols),
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
        # stage 2: the slice products, registered (the read data never reaches an adder
        # chain of the accumulators in the same cycle)
        valid2 = Signal(name="prod_valid")
        m.d.sync += valid2.eq(valid)

        digits = [weight_digits(self.w[c]) for c in range(cols)]  # shared by all rows
        for r in range(rows):
            for c in range(cols):
                # one signal per lane for the product and the accumulator (see module doc)
                prod = Signal(signed(cfg.lo_bits + 8 + 2), name=f"p_{r}_{c}")
                m.d.sync += prod.eq(slice_product(al[r], digits[c]))
                acc = lane_accumulator(m, f"acc_{r}_{c}", clear=self.clear, add=valid2,
                                       value=prod)
                m.d.comb += self.acc[r * cols + c].eq(acc)
        return m
