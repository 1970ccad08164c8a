"""Accumulators of one PEA: one 32-bit register per PE of a pass.

Each of the ``rows_per_pass x pea_cols`` accumulators adds, in one cycle, the SWO's product of
its lane and, when the DWO's product of that cycle belongs to its tile, the DWO's product of
its row within the tile: ``acc += AL*W + ((AH - s)*W << L)``. They start from the compensation
term of their column (:class:`~panacea_hdl.rtl.pea.compensator.Compensator`), so at HANDOFF an
accumulator *is* the output ``y = (A' - z) W`` of its PE: there are no output adders and one
accumulator set, not one per operator.

In the ``dense`` variant (:class:`~panacea_hdl.rtl.pea.int8_pea.Int8PEA`) only the first input exists
(the INT8 MAC products).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, signed
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from golden_model.config import ACC_BITS

from panacea_hdl.rtl.lanes import lane_accumulator
from panacea_hdl.rtl.layouts import ConfigComponent, check_config

__all__ = ["Accumulators"]


class Accumulators(ConfigComponent):
    """``rows_per_pass x pea_cols`` accumulators, initialised to the compensation term.

    Parameters
    ----------
    config : PanaceaConfig
    p_bits : int
        Width of the dense operator's products ``p``.
    q_bits : int or None
        Width of the DWO's products ``q``; None (the ``dense`` variant) builds no DWO input.

    Attributes
    ----------
    init, clear : In(1)
        At the end of this cycle every accumulator takes ``term[col]`` plus the products
        landing in this cycle (``init``: a LOAD write reaching the term; ``clear``: HANDOFF).
        Two inputs, not their OR: each accumulator bit's multiplexer takes both flags (from
        registers) in its own LUT, with no shared OR gate, fanned out to every bit, in front
        of the carry chains (Fmax).
    term : In(ArrayLayout(signed(32), pea_cols))
        Compensation term of each column.
    p : In
        Dense products, lane ``row * pea_cols + col``; 0 in a cycle without a MAC.
    q : In
        Sparse products, lane ``row * pea_cols + col``; 0 unless a DWO MAC of the row's tile
        lands (not in the ``dense`` variant).
    y : Out(ArrayLayout(signed(32), rows_per_pass * pea_cols))
        The accumulators.
    """

    def __init__(self, *, config, p_bits, q_bits=None):
        self._config = cfg = check_config(config)
        for name, v in (("p_bits", p_bits), ("q_bits", q_bits)):
            if v is None and name == "q_bits":
                continue
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= ACC_BITS:
                raise ValueError(f"{name} must be an int in [1, {ACC_BITS}], got {v!r}")
        self._p_bits, self._q_bits = p_bits, q_bits
        lanes = cfg.rows_per_pass * cfg.pea_cols
        members = {
            "init": In(1),
            "clear": In(1),
            "term": In(data.ArrayLayout(signed(ACC_BITS), cfg.pea_cols)),
            "p": In(signed(p_bits)).array(lanes),
        }
        if q_bits is not None:
            members["q"] = In(signed(q_bits)).array(lanes)
        members["y"] = Out(data.ArrayLayout(signed(ACC_BITS), lanes))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        lanes = []          # one signal per lane, one assignment of y (fast on Icarus)
        for lane in range(cfg.rows_per_pass * cfg.pea_cols):
            c = lane % cfg.pea_cols
            addends = [self.p[lane]]
            if self._q_bits is not None:
                addends.append(self.q[lane])
            lanes.append(lane_accumulator(m, f"acc_{lane // cfg.pea_cols}_{c}", init=(self.init, self.clear),
                                          init_value=self.term[c], addends=addends))
        m.d.comb += self.y.eq(Cat(lanes))
        return m
