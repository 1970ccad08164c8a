"""Compensator (CS) of one PEA: column sums of the weights and the compensation term.

During LOAD the weight rows written into the weight buffer are also added into the column
sums ``C[col] = sum_k W[k, col]`` (reusing the rows already on their way to the buffer: no
extra traffic). During a pass it forms the term ``((s << L) - z) * C[col]`` that folds the
zero point and the skipped high-order value ``s`` back into every output of the column
(``-z * C[col]`` in the ``sibia`` and ``dense`` variants, which have no r logic).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden_model.config import ACC_BITS, ACT_BITS, SPLIT_RANGE
from golden_model.slicing import WEIGHT_MAX

from .layouts import check_config, w_row_layout

__all__ = ["Compensator", "shift_by_split", "SPLIT_BITS"]

#: Width of the split register L.
SPLIT_BITS = (SPLIT_RANGE.stop - 1).bit_length()


def shift_by_split(m, value, split, splits, *, name):
    """``value << split`` as a multiplexer over the supported splits only.

    DBS changes the split per layer; in hardware that is a small choice of output shifts, not a
    barrel shifter. For a ``split`` outside ``splits`` the result is 0 (the top level rejects
    such a split with BAD_PARAM before a GEMM starts).

    Parameters
    ----------
    m : Module
    value : Value
    split : Value
        The run-time split L.
    splits : tuple of int
        ``config.splits``.
    name : str
        Name of the result signal.
    """
    shape = value.shape()
    width = shape.width + max(splits)
    out = Signal(signed(width) if shape.signed else unsigned(width), name=name)
    with m.Switch(split):
        for L in splits:
            with m.Case(L):
                m.d.comb += out.eq(value << L)
    return out


class Compensator(wiring.Component):
    """Column sums ``C`` (accumulated during LOAD) and the term ``((s << L) - z) * C``.

    In the baseline variants (``config.variant`` ``"sibia"`` or ``"dense"``) nothing is
    skipped at a nonzero value: the term is ``-z * C`` and there are no ``s`` and ``split``
    inputs.

    Parameters
    ----------
    config : PanaceaConfig

    Attributes
    ----------
    load : In(1)
        A weight row ``w`` is written this cycle: add it into the column sums.
    clear : In(1)
        Clear the column sums at the end of this cycle; with ``load`` also high they become
        ``w`` (the first row of a block).
    w : In(w_row_layout)
        The weight row being written.
    s : In(unsigned(ho_bits))
        Skip value (``panacea`` variant only).
    z : In(unsigned(8))
        Activation zero point.
    split : In(unsigned(3))
        Split L (one of ``config.splits``; ``panacea`` variant only).
    c : Out(ArrayLayout(signed(c_bits), pea_cols))
        Column sums (registers); ``c_bits`` holds ``127 * k_max`` with sign.
    term : Out(ArrayLayout(signed(32), pea_cols))
        ``((s << L) - z) * C[col]`` (``-z * C[col]`` in the baselines) mod 2**32, two
        register stages: the term of cycle t is ``((s << L) - z)`` of cycle t-2 times ``C`` of
        cycle t-1 (``c`` is itself a register: the term follows ``c`` one cycle later). The top
        level holds ``s``, ``z``, ``split`` stable from START and ends LOAD at least two cycles
        before the first HANDOFF reads ``y``, so the stages cost no cycle; they take the CSR
        decode and the multiplier off the path into the output bank.
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        self._c_bits = (WEIGHT_MAX * cfg.k_max).bit_length() + 2
        skip_r = cfg.variant == "panacea"
        members = {
            "load": In(1),
            "clear": In(1),
            "w": In(w_row_layout(cfg)),
        }
        if skip_r:
            members["s"] = In(unsigned(cfg.ho_bits))
        members["z"] = In(unsigned(ACT_BITS))
        if skip_r:
            members["split"] = In(unsigned(SPLIT_BITS))
        members["c"] = Out(data.ArrayLayout(signed(self._c_bits), cfg.pea_cols))
        members["term"] = Out(data.ArrayLayout(signed(ACC_BITS), cfg.pea_cols))
        super().__init__(members)

    @property
    def config(self):
        return self._config

    @property
    def c_bits(self):
        """Width of a column sum register."""
        return self._c_bits

    def elaborate(self, platform):
        m = Module()
        cfg = self._config

        for col in range(cfg.pea_cols):
            c = self.c[col]
            with m.If(self.load & self.clear):
                m.d.sync += c.eq(self.w[col])
            with m.Elif(self.clear):
                m.d.sync += c.eq(0)
            with m.Elif(self.load):
                m.d.sync += c.eq(c + self.w[col])

        # the factor is registered too: the parameters come straight from CSR registers
        if cfg.variant == "panacea":
            s_shift = shift_by_split(m, self.s, self.split, cfg.splits, name="s_shifted")
            factor = Signal(signed(max(s_shift.shape().width, ACT_BITS) + 1), name="factor")
            m.d.sync += factor.eq(s_shift - self.z)
        else:                       # nothing skipped at a nonzero value: -z * C only
            factor = Signal(signed(ACT_BITS + 1), name="factor")
            m.d.sync += factor.eq(-self.z)
        for col in range(cfg.pea_cols):
            m.d.sync += self.term[col].eq(factor * self.c[col])
        return m
