"""Compensator (CS) of one PEA: the compensation term of every column.

The term ``((s << L) - z) * C[col]``, with ``C[col] = sum_k W[k, col]``, folds the zero point
and the skipped high-order value ``s`` back into every output of the column (``-z * C[col]``
in the ``sibia`` and ``dense`` variants, which have no r logic). It is accumulated during
LOAD from the weight rows already on their way to the weight buffer (no extra traffic), as
``sum_k ((s << L) - z) * W[k, col]`` through one lane of the MAC pipeline of
:mod:`panacea_hdl.rtl.lanes` (operand ``(s << L) - z``, radix-4 products): no wide multiplier, no
path longer than the MAC lanes'. The PEA's accumulators start from it
(:class:`~panacea_hdl.rtl.pea.accumulators.Accumulators`).

Term double-buffer (the LOAD overlap, ``docs/architecture.md``): a write flagged ``other``
(the next column block's row, loaded into the other half of the weight buffer while the
current block computes) goes into a second register set, ``term_next``, and re-initialises no
accumulator; ``swap`` makes it the current ``term`` (the sum into either set shares one adder,
its input selected in front of it: nothing is added to the accumulators' path).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from golden_model.config import ACC_BITS, ACT_BITS
from golden_model.timing import TERM_LATENCY

from panacea_hdl.rtl.lanes import (SPLIT_BITS, combine_stage, delay, digit_stage, operand_stage,
                                   product_stage, shift_by_split)
from panacea_hdl.rtl.layouts import ConfigComponent, check_config, w_row_layout

__all__ = ["Compensator", "TERM_LATENCY"]



class Compensator(ConfigComponent):
    """The term ``((s << L) - z) * C`` (``-z * C`` in the baselines), built during LOAD.

    Pipeline: a write (``load``) in cycle t registers the digits of ``w`` and the factor
    ``f = (s << L) - z`` (and ``-f``) at the edge ending t, the slice products ``f*WH`` and
    ``f*WL`` at t+1, their sum at t+2, and adds it into ``term`` (``term_next`` with ``other``)
    at the edge ending t+3; ``init`` is high in cycle t+4 (= t + :data:`TERM_LATENCY`), when
    the accumulators may take the term (not for an ``other`` write). The top level holds ``s``,
    ``z`` and ``split`` stable from START.

    Parameters
    ----------
    config : PanaceaConfig

    Attributes
    ----------
    load : In(1)
        A weight row ``w`` is written this cycle: add ``((s << L) - z) * w`` (with the
        ``s``, ``z``, ``split`` of this cycle) into the terms.
    clear : In(1)
        Restart the terms: with ``load`` they become ``((s << L) - z) * w`` (the first row of a
        block), without it 0 (at the same point of the pipeline).
    w : In(w_row_layout)
        The weight row being written.
    other : In(1)
        With ``load`` / ``clear``: the row is the next column block's, into ``term_next``.
    swap : In(1)
        At the end of this cycle ``term`` takes ``term_next`` (no ``other`` write may land in
        ``term_next``, and no write in ``term``, in the same cycle).
    s : In(unsigned(ho_bits))
        Skip value (``panacea`` variant only).
    z : In(unsigned(8))
        Activation zero point.
    split : In(unsigned(3))
        Split L (one of ``config.splits``; ``panacea`` variant only).
    term : Out(ArrayLayout(signed(32), pea_cols))
        The terms (registers), mod 2**32.
    init : Out(1)
        A write or clear (not ``other``) of four cycles earlier has reached ``term``.
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        skip_r = cfg.caps.skip_value
        members = {
            "load": In(1),
            "clear": In(1),
            "w": In(w_row_layout(cfg)),
            "other": In(1),
            "swap": In(1),
        }
        if skip_r:
            members["s"] = In(unsigned(cfg.ho_bits))
        members["z"] = In(unsigned(ACT_BITS))
        if skip_r:
            members["split"] = In(unsigned(SPLIT_BITS))
        members["term"] = Out(data.ArrayLayout(signed(ACC_BITS), cfg.pea_cols))
        members["init"] = Out(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        # the term is sum_k f * W with the factor f = (s << L) - z as the operand of one lane
        # of the MAC pipeline (radix-4 products select among f, -f, 2f, -2f: no multiplier
        # wider than the PEs'). f and -f are registered from the inputs of the write's cycle
        # (they come straight from CSR registers), one copy per column: one register would
        # fan out to every column's lane.
        cols = cfg.pea_cols
        z_max = (1 << ACT_BITS) - 1
        if cfg.caps.skip_value:
            s_shift = shift_by_split(m, self.s, self.split, cfg.splits, name="s_shifted")
            f_pos, f_neg = s_shift - self.z, self.z - s_shift
            f_range = (-z_max, ((1 << cfg.ho_bits) - 1) << max(cfg.splits))
        else:                       # nothing skipped at a nonzero value: -z * C only
            f_pos, f_neg = -self.z, self.z
            f_range = (-z_max, 0)
        factors = [operand_stage(m, f_pos, neg=f_neg, name=f"factor_{c}", lo=f_range[0],
                                 hi=f_range[1]) for c in range(cols)]

        # the write's digits are registered at once (no read port in front of this lane)
        digits = digit_stage(m, self.w, name="w")
        write = Signal(name="write_r")
        first = Signal(name="first_r")
        other = Signal(name="other_r")
        m.d.sync += [write.eq(self.load | self.clear), first.eq(self.clear), other.eq(self.other)]
        add = delay(m, write, 2, name="add")
        restart = delay(m, first, 2, name="restart")
        to_next = delay(m, other, 2, name="to_next")            # the write is into term_next
        with_w = delay(m, self.load, 2, name="with_w")          # in the combine stage
        for col in range(cols):
            [p] = combine_stage(m, product_stage(m, factors[col], digits[col], name=f"t_{col}"),
                                name=f"t_{col}", gates=[with_w])
            term = self.term[col]
            term_next = Signal.like(term, name=f"term_next_{col}")
            # one adder for both sets: the set written selected in front of it
            total = Signal.like(term, name=f"term_sum_{col}")
            m.d.comb += total.eq(Mux(restart, 0, Mux(to_next, term_next, term)) + p)
            with m.If(add & to_next):
                m.d.sync += term_next.eq(total)
            with m.Elif(add):
                m.d.sync += term.eq(total)
            with m.If(self.swap):
                m.d.sync += term.eq(term_next)
        m.d.comb += self.init.eq(delay(m, (self.load | self.clear) & ~self.other, TERM_LATENCY,
                                       name="init"))
        return m
