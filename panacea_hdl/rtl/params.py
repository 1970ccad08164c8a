"""Parameter check of the core: is a GEMM's register set runnable, and the PEAs' copies.

START and the check are registered: the START write acts one cycle later (the parameters were
written at least one cycle before it), so no path runs from the CSR decode or the parameter
comparators into the sequencer's wide updates. The PEAs' parameters are registered copies:
stable from START on, and apart from the CSR decode.
"""

from __future__ import annotations

import functools
import operator

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib.wiring import In, Out

from panacea_hdl import regmap
from panacea_hdl.rtl.layouts import ConfigComponent, check_config, k_shape

__all__ = ["ParamCheck"]


class ParamCheck(ConfigComponent):
    """Checks MODE, RVAL, SPLIT and the dimensions at START; registered copies for the PEAs.

    A GEMM is refused (``bad``) when MODE is beyond the variant's modes (codes are in order of
    the modes), SPLIT is not one of the config's splits, RVAL >= 2**(8-L) in aqs mode (variants
    with a skip value only), M, K or N is zero, or K > ``k_max``.

    Parameters
    ----------
    config : PanaceaConfig
        Design parameters (keyword only).

    Attributes
    ----------
    mode, rval, zp, split, dim_m, dim_k, dim_n : In
        The CSR's parameter registers (widths of ``regmap.REGISTER_MAP``).
    start_in : In(1)
        The CSR's START pulse.
    start : Out(1)
        ``start_in`` one cycle later.
    bad : Out(1)
        The parameters of the previous cycle are not runnable (valid with ``start``).
    k_len : Out(k_shape)
        K (``dim_k``).
    dense : Out(1)
        MODE is dense (bit-slice variants only).
    s : Out(ho_bits)
        The skip value: RVAL in aqs mode, else 0 (variants with a skip value only).
    pe_split, pe_z, pe_s : Out
        Registered copies of SPLIT, ZP and ``s`` for the PEAs (``pe_s``: skip value only).
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        width = {name: regmap.register(name.upper()).field("value").width
                 for name in ("mode", "rval", "zp", "split")}
        members = {
            **{name: In(w) for name, w in width.items()},
            "dim_m": In(regmap.DIM_BITS), "dim_k": In(regmap.DIM_BITS),
            "dim_n": In(regmap.DIM_BITS),
            "start_in": In(1),
            "start": Out(1), "bad": Out(1), "k_len": Out(k_shape(cfg)),
        }
        if cfg.caps.sliced:
            members["dense"] = Out(1)
        if cfg.caps.skip_value:
            members["s"] = Out(unsigned(cfg.ho_bits))
        members.update({"pe_split": Out(width["split"]), "pe_z": Out(width["zp"])})
        if cfg.caps.skip_value:
            members["pe_s"] = Out(unsigned(cfg.ho_bits))
        super().__init__(members)

    def elaborate(self, platform):
        cfg = self._config
        skip = cfg.caps.skip_value
        m = Module()
        if skip:
            is_aqs = Signal()
            m.d.comb += is_aqs.eq(self.mode == regmap.MODE_CODES["aqs"])
            rval_ok = Signal()
            m.d.comb += rval_ok.eq(0)
        split_ok = Signal()
        m.d.comb += split_ok.eq(0)
        for L in cfg.splits:
            with m.If(self.split == L):
                m.d.comb += split_ok.eq(1)
                if skip:
                    m.d.comb += rval_ok.eq(self.rval < (1 << (8 - L)))
        top_mode = max(regmap.MODE_CODES[md] for md in cfg.modes)
        bad = [self.mode > top_mode, ~split_ok]
        if skip:
            bad.append(is_aqs & ~rval_ok)
        bad += [self.dim_m == 0, self.dim_k == 0, self.dim_n == 0, self.dim_k > cfg.k_max]
        m.d.sync += [self.start.eq(self.start_in),
                     self.bad.eq(functools.reduce(operator.or_, bad))]
        m.d.comb += self.k_len.eq(self.dim_k)
        if cfg.caps.sliced:
            m.d.comb += self.dense.eq(self.mode == regmap.MODE_CODES["dense"])
        m.d.sync += [self.pe_split.eq(self.split), self.pe_z.eq(self.zp)]
        if skip:
            m.d.comb += self.s.eq(Mux(is_aqs, self.rval, 0))
            m.d.sync += self.pe_s.eq(self.s)
        return m
