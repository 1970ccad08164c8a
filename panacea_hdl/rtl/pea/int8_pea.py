"""The INT8 array of the ``dense`` baseline variant: no slicing, no skipping.

:class:`Int8PEA` replaces the bit-slice :class:`~panacea_hdl.rtl.pea.pea.PEA` (same weight buffer,
same compensator, same timing contract, same port names where they apply). Each of its
``rows_per_pass x pea_cols`` PEs multiplies a whole unsigned 8-bit activation by a signed
8-bit weight, as two slice products ``A*WL + (A*WH << 4)`` through the same MAC pipeline
(:mod:`panacea_hdl.rtl.lanes`), into a 32-bit accumulator that starts from ``-z * C[col]``
(:class:`~panacea_hdl.rtl.pea.accumulators.Accumulators`).

:class:`BeatIssuer` replaces the :class:`~panacea_hdl.rtl.skip_controller.SkipController`: there
is no ``ho`` stream and nothing to decode, it issues one ``lo`` beat (the whole activations of
the pass's rows at one k) per cycle, k = 0 .. K-1. See ``docs/baselines.md``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden_model.config import ACC_BITS, ACT_BITS

from panacea_hdl.rtl.pea.compensator import Compensator
from panacea_hdl.rtl.layouts import ConfigComponent, check_config, k_shape, lo_beat_layout, w_row_layout
from panacea_hdl.rtl.pea.accumulators import Accumulators
from panacea_hdl.rtl.lanes import (COMBINE_CYCLE, combine_stage, delay, digit_stage, operand_stage,
                                   product_range, product_stage, signed_bits)
from panacea_hdl.rtl.pea.weight_buffer import WeightBuffer

__all__ = ["Int8PEA", "BeatIssuer"]


def _check_dense(config, what):
    cfg = check_config(config)
    if cfg.caps.sliced:
        raise ValueError(f"{what} is the INT8 array of the 'dense' variant; config "
                         f"{cfg.name!r} is variant {cfg.variant!r}")
    return cfg


class Int8PEA(ConfigComponent):
    """One INT8 PE array: weight buffer, ``rows_per_pass (T x G) x pea_cols`` 8x8-bit MACs, compensator.

    Timing contract (the same as :class:`~panacea_hdl.rtl.pea.pea.PEA`'s SWO side): an issue
    (``mac_en``) in cycle t reads weight row ``mac_k`` through a synchronous read port; the MAC
    is added into the accumulators at the edge ending t+4 and shows in ``y`` from t+5
    (:data:`~panacea_hdl.rtl.lanes.MAC_STAGES`). A LOAD write in cycle t
    re-initialises the accumulators to the term at the edge ending t+4 (not a ``comp_other``
    write). LOAD writes (``w_we``) may coincide with issues only in the other half of the
    weight buffer (the LOAD overlap).

    Parameters
    ----------
    config : PanaceaConfig
        Design parameters of a ``dense`` variant (keyword only).

    Attributes
    ----------
    w_we, w_addr, w_data : In
        LOAD: write weight row ``w_addr`` = ``w_data`` (this PEA's ``pea_cols`` lanes).
    comp_clear : In(1)
        Restart the compensation terms; with ``w_we`` high they start from ``w_data``.
    w_half, r_half, comp_other, term_swap : In(1)
        The LOAD overlap's weight-buffer halves and second term set, as
        :class:`~panacea_hdl.rtl.pea.pea.PEA`'s.
    mac_en, mac_k, mac_a : In
        Issue: MAC of the activations ``mac_a`` (lane i = row i of the pass, unsigned 8-bit)
        with weight row ``mac_k``.
    z : In(unsigned(8))
        Zero point.
    acc_clear : In(1)
        Set the accumulators to the term at the end of this cycle (HANDOFF). A MAC completing
        in the same cycle is discarded.
    y : Out(ArrayLayout(signed(32), rows_per_pass * pea_cols))
        Lane ``row * pea_cols + col``: its accumulator, ``(A - z) W`` at HANDOFF (mod 2**32).
    """

    def __init__(self, *, config):
        self._config = cfg = _check_dense(config, "Int8PEA")
        k = k_shape(cfg)
        super().__init__({
            "w_we": In(1),
            "w_addr": In(k),
            "w_data": In(w_row_layout(cfg)),
            "comp_clear": In(1),
            "w_half": In(1),
            "r_half": In(1),
            "comp_other": In(1),
            "term_swap": In(1),
            "mac_en": In(1),
            "mac_k": In(k),
            "mac_a": In(lo_beat_layout(cfg)),
            "z": In(ACT_BITS),
            "acc_clear": In(1),
            "y": Out(data.ArrayLayout(signed(ACC_BITS), cfg.rows_per_pass * cfg.pea_cols)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        rows, cols = cfg.rows_per_pass, cfg.pea_cols
        m.submodules.wbuf = wbuf = WeightBuffer(config=cfg, read_ports=1)
        m.submodules.comp = comp = Compensator(config=cfg)
        m.d.comb += [
            wbuf.w_en.eq(self.w_we), wbuf.w_addr.eq(self.w_addr), wbuf.w_data.eq(self.w_data),
            wbuf.w_half.eq(self.w_half), wbuf.r_half.eq(self.r_half),
            wbuf.a_en.eq(self.mac_en), wbuf.a_addr.eq(self.mac_k),
            comp.load.eq(self.w_we), comp.clear.eq(self.comp_clear), comp.w.eq(self.w_data),
            comp.other.eq(self.comp_other), comp.swap.eq(self.term_swap),
            comp.z.eq(self.z),
        ]

        # the MAC pipeline of panacea_hdl.rtl.lanes: operands registered at the issue, the weight
        # row's digits one cycle later, then the slice products, their sum, the accumulators
        a = Signal(lo_beat_layout(cfg), name="a_r")
        with m.If(self.mac_en):
            m.d.sync += a.eq(self.mac_a)
        digits = digit_stage(m, wbuf.a_data, name="w")
        operands = [operand_stage(m, a[r], name=f"a_{r}") for r in range(rows)]
        p_bits = signed_bits(*product_range(0, (1 << ACT_BITS) - 1))     # A * W, A unsigned
        m.submodules.accs = accs = Accumulators(config=cfg, p_bits=p_bits)
        m.d.comb += [
            accs.init.eq(comp.init), accs.clear.eq(self.acc_clear), accs.term.eq(comp.term),
            self.y.eq(accs.y),
        ]
        valid = delay(m, self.mac_en, COMBINE_CYCLE, name="valid")
        for r in range(rows):
            for c in range(cols):       # unsigned 8 x signed 8, as two slice products
                [p] = combine_stage(m, product_stage(m, operands[r], digits[c],
                                                  name=f"p_{r}_{c}"),
                                    name=f"p_{r}_{c}", gates=[valid])
                m.d.comb += accs.p[r * cols + c].eq(p)
        return m


class BeatIssuer(ConfigComponent):
    """Pass scheduler of the INT8 array: one ``lo`` beat per cycle, k = 0 .. K-1.

    The issue outputs are combinational in the cycle a beat is accepted. With ``lo`` always
    valid a pass takes K cycles; ``pass_done`` (from registers) is then high in the next cycle,
    the DRAIN cycle, exactly as :class:`~panacea_hdl.rtl.skip_controller.SkipController` reports it.

    Parameters
    ----------
    config : PanaceaConfig
        Design parameters of a ``dense`` variant.

    Attributes
    ----------
    lo : In(stream.Signature(lo_beat_layout))
        Activation beats; ``ready = active & (count < K)`` (the compare registered, as the
        skip controller's: K is fixed from the restart on).
    restart : In(1)
        Start a new pass at the end of this cycle (count = 0).
    chain : In(1)
        The next pass may follow at once: restart in the cycle of the pass's last issue
        (``pass_chain``), as :class:`~panacea_hdl.rtl.skip_controller.SkipController` does.
    active : In(1)
        Held high by the top level while in its PASS state.
    k_len : In(k_shape)
        K.
    mac_en, mac_k, mac_a : Out
        Issue: the beat accepted this cycle, at k = count.
    pass_done : Out(1)
        ``count == K``: the pass's last issue happened in an earlier cycle.
    pass_chain : Out(1)
        With ``chain``: the pass's last issue is in this cycle, the next pass starts after it.
    """

    def __init__(self, *, config):
        self._config = cfg = _check_dense(config, "BeatIssuer")
        super().__init__({
            "lo": In(stream.Signature(lo_beat_layout(cfg))),
            "restart": In(1),
            "chain": In(1),
            "active": In(1),
            "k_len": In(k_shape(cfg)),
            "mac_en": Out(1),
            "mac_k": Out(k_shape(cfg)),
            "mac_a": Out(lo_beat_layout(cfg)),
            "pass_done": Out(1),
            "pass_chain": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        count = Signal(k_shape(self._config))
        last = Signal()                     # count == K - 1 (registered)
        more = Signal()                     # count < K (registered: no comparator in the ready)
        go = Signal()
        done = Signal()
        m.d.comb += [
            self.lo.ready.eq(self.active & more),
            go.eq(self.lo.valid & self.lo.ready),
            self.mac_en.eq(go),
            self.mac_k.eq(count),
            self.mac_a.eq(self.lo.payload),
            done.eq(~more),                 # count == K
            self.pass_done.eq(done),
            self.pass_chain.eq(self.chain & go & last),
        ]
        with m.If(self.restart | self.pass_chain):
            m.d.sync += [count.eq(0), last.eq(self.k_len == 1), more.eq(self.k_len != 0)]
        with m.Elif(go):
            m.d.sync += [count.eq(count + 1), last.eq(count + 2 == self.k_len), more.eq(~last)]
        return m
