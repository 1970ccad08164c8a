"""PEA: one processing-element array of the Panacea core.

A PEA computes ``pea_cols`` output columns for all ``rows_per_pass = T x G`` rows of a pass
(T = ``tiles_per_pass``, default 2).
It contains:

* a :class:`~panacea_hdl.rtl.pea.weight_buffer.WeightBuffer` (``k_max`` rows, one write port for LOAD,
  read port A for the SWO, read port B for the DWO);
* the :class:`~panacea_hdl.rtl.pea.swo.SWO` (T x G x pea_cols slice-product lanes, dense low-order work);
* the :class:`~panacea_hdl.rtl.pea.dwo.DWO` (G x pea_cols lanes, sparse high-order work of the T tiles);
* the :class:`~panacea_hdl.rtl.pea.compensator.Compensator` (compensation term, built during LOAD);
* the :class:`~panacea_hdl.rtl.pea.accumulators.Accumulators` (one per PE, starting from the term):
  at HANDOFF they hold ``y = AL W + ((AH - s) W << L) + ((s << L) - z) C`` (mod 2**32),
  with no output adder.

``num_peas`` PEAs run in lockstep in the top level, each on its own column slice.

Each output lane is its own signal and ``y`` is driven by one concatenation of them, not by
one assignment per 32-bit slice: Icarus turns a vector driven slice by slice into a
strength-resolving net that rebuilds all ``T * G * pea_cols * 32`` bits bit by bit on every lane
change (the ``default`` preset simulated at a few cycles per second).

The ``sibia`` variant (``docs/baselines.md``) builds the same PEA without r logic: the skip
value is the constant 0 inside the PEA (no ``s`` input) and the compensation term is
``-z * C[col]``. The ``dense`` variant uses :class:`~panacea_hdl.rtl.pea.int8_pea.Int8PEA` instead.
"""

from __future__ import annotations

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from golden_model.config import ACC_BITS, ACT_BITS

from panacea_hdl.rtl.pea.accumulators import Accumulators
from panacea_hdl.rtl.pea.compensator import Compensator
from panacea_hdl.rtl.pea.dwo import DWO
from panacea_hdl.rtl.lanes import SPLIT_BITS
from panacea_hdl.rtl.layouts import (ConfigComponent, check_config, ho_vector_layout, k_shape, lo_beat_layout,
                                     w_row_layout)
from panacea_hdl.rtl.pea.swo import SWO
from panacea_hdl.rtl.pea.weight_buffer import WeightBuffer

__all__ = ["PEA"]


class PEA(ConfigComponent):
    """One PE array: weight buffer, SWO, DWO, compensator and accumulators.

    Timing contract (the MAC pipeline of :mod:`panacea_hdl.rtl.lanes`): an issue (``swo_en`` /
    ``dwo_en``) in cycle t reads weight row ``k`` through a synchronous read port; the MAC is
    added into the accumulators at the edge ending t+4, so ``y`` (the accumulator registers)
    shows it from cycle t+5 (:data:`~panacea_hdl.rtl.lanes.MAC_STAGES` = 4 cycles).
    SWO and DWO may issue in the same cycle (two read ports). A LOAD write in cycle t reaches
    the compensation term at the edge ending t+3 and re-initialises every accumulator to the
    term at the edge ending t+4 (:data:`~panacea_hdl.rtl.pea.compensator.TERM_LATENCY`): after the
    last LOAD write of a block, y is the term of each column until the first MAC lands. ``s``,
    ``z`` and ``split`` must be stable from one cycle before the first LOAD write to the end
    of the block's last pass. LOAD writes (``w_we``) may coincide with PASS reads only in the
    other half of the weight buffer (``w_half`` != ``r_half``, the LOAD overlap).

    Parameters
    ----------
    config : PanaceaConfig
        The design parameters (keyword only). Anything else raises :class:`TypeError`.

    Attributes
    ----------
    w_we, w_addr, w_data : In
        LOAD: write weight row ``w_addr`` = ``w_data`` (this PEA's ``pea_cols`` lanes).
    comp_clear : In(1)
        Restart the compensation terms; with ``w_we`` high they start from ``w_data``.
    w_half, r_half : In(1)
        The weight-buffer half LOAD writes and the passes read (the LOAD overlap,
        :class:`~panacea_hdl.rtl.pea.weight_buffer.WeightBuffer`).
    comp_other, term_swap : In(1)
        The write is the next column block's (its term into the second set, no accumulator
        re-initialised); the next block's term becomes the current one
        (:class:`~panacea_hdl.rtl.pea.compensator.Compensator`).
    swo_en, swo_k, swo_al : In
        SWO issue: MAC of the low-order beat ``swo_al`` (lane i = row i) with row ``swo_k``.
    dwo_en, dwo_k, dwo_tile, dwo_ah : In
        DWO issue: MAC of tile ``dwo_tile``'s high-order vector ``dwo_ah`` with row ``dwo_k``.
    s : In(unsigned(ho_bits))
        Skip value (r in ``aqs`` mode, else 0); stable during a GEMM. ``panacea`` variant
        only (the ``sibia`` variant's skip value is the constant 0).
    z : In(unsigned(8))
        Zero point.
    split : In(unsigned(3))
        Split L, one of ``config.splits``.
    acc_clear : In(1)
        Set every accumulator to its column's term at the end of this cycle (HANDOFF). A MAC
        completing in the same cycle (issued four cycles earlier) is discarded.
    y : Out(ArrayLayout(signed(32), rows_per_pass * pea_cols))
        Lane ``row * pea_cols + col``: the accumulator of that PE.
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        if cfg.variant not in ("panacea", "sibia"):
            raise ValueError(f"PEA is the bit-slice array of the panacea and sibia variants; "
                             f"the {cfg.variant!r} variant uses Int8PEA")
        k = k_shape(cfg)
        members = {
            "w_we": In(1),
            "w_addr": In(k),
            "w_data": In(w_row_layout(cfg)),
            "comp_clear": In(1),
            "w_half": In(1),
            "r_half": In(1),
            "comp_other": In(1),
            "term_swap": In(1),
            "swo_en": In(1),
            "swo_k": In(k),
            "swo_al": In(lo_beat_layout(cfg)),
            "dwo_en": In(1),
            "dwo_k": In(k),
            "dwo_tile": In(range(cfg.tiles_per_pass)),
            "dwo_ah": In(ho_vector_layout(cfg)),
        }
        if cfg.caps.skip_value:
            members["s"] = In(unsigned(cfg.ho_bits))
        members.update({
            "z": In(unsigned(ACT_BITS)),
            "split": In(unsigned(SPLIT_BITS)),
            "acc_clear": In(1),
            "y": Out(data.ArrayLayout(signed(ACC_BITS), cfg.rows_per_pass * cfg.pea_cols)),
        })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        m.submodules.wbuf = wbuf = WeightBuffer(config=cfg)
        m.submodules.swo = swo = SWO(config=cfg)
        m.submodules.dwo = dwo = DWO(config=cfg)
        m.submodules.comp = comp = Compensator(config=cfg)
        m.submodules.accs = accs = Accumulators(config=cfg, p_bits=len(swo.p[0]),
                                                q_bits=len(dwo.q[0]))
        skip_r = cfg.caps.skip_value
        s = self.s if skip_r else 0          # sibia: no r logic, the skip value is 0
        m.d.comb += [
            # weight buffer: LOAD write port, SWO on read port A, DWO on read port B
            wbuf.w_en.eq(self.w_we), wbuf.w_addr.eq(self.w_addr), wbuf.w_data.eq(self.w_data),
            wbuf.w_half.eq(self.w_half), wbuf.r_half.eq(self.r_half),
            wbuf.a_en.eq(self.swo_en), wbuf.a_addr.eq(self.swo_k),
            wbuf.b_en.eq(self.dwo_en), wbuf.b_addr.eq(self.dwo_k),
            # SWO
            swo.en.eq(self.swo_en), swo.al.eq(self.swo_al), swo.w.eq(wbuf.a_data),
            # DWO
            dwo.en.eq(self.dwo_en), dwo.tile.eq(self.dwo_tile), dwo.ah.eq(self.dwo_ah),
            dwo.s.eq(s), dwo.split.eq(self.split), dwo.w.eq(wbuf.b_data),
            # compensator: the term from the rows being loaded
            comp.load.eq(self.w_we), comp.clear.eq(self.comp_clear), comp.w.eq(self.w_data),
            comp.other.eq(self.comp_other), comp.swap.eq(self.term_swap),
            *([comp.s.eq(self.s)] if skip_r else []), comp.z.eq(self.z),
            *([comp.split.eq(self.split)] if skip_r else []),
            # accumulators: start from the term, add both operators' products
            accs.init.eq(self.acc_clear | comp.init), accs.term.eq(comp.term),
            self.y.eq(accs.y),
        ]
        for i in range(len(swo.p)):
            m.d.comb += [accs.p[i].eq(swo.p[i]), accs.q[i].eq(dwo.q[i])]
        return m
