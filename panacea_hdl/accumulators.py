"""Accumulators of one PEA: one 32-bit register per PE of a pass.

Each of the ``rows_per_pass x pea_cols`` accumulators adds, in one cycle, the SWO's product of
its lane and, when the DWO's product of that cycle belongs to its tile, the DWO's product of
its row within the tile: ``acc += AL*W + ((AH - s)*W << L)``. They start from the compensation
term of their column (:class:`~panacea_hdl.compensator.Compensator`), so at HANDOFF an
accumulator *is* the output ``y = (A' - z) W`` of its PE: there are no output adders and one
accumulator set, not one per operator.

In the ``dense`` variant (:class:`~panacea_hdl.int8_pea.Int8PEA`) only the first input exists
(the INT8 MAC products).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden_model.config import ACC_BITS, TILES_PER_PASS

from .lanes import lane_accumulator
from .layouts import check_config

__all__ = ["Accumulators"]


class Accumulators(wiring.Component):
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
    init : In(1)
        At the end of this cycle every accumulator takes ``term[col]`` (HANDOFF, or a LOAD
        write reaching the term). Wins over the products of this cycle.
    term : In(ArrayLayout(signed(32), pea_cols))
        Compensation term of each column.
    p_valid, p : In
        Dense products, lane ``row * pea_cols + col``; added when ``p_valid``.
    q_valid, q_tile, q : In
        Sparse products of one tile, lane ``i * pea_cols + col`` (row ``q_tile * G + i``);
        added when ``q_valid`` (not in the ``dense`` variant).
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
            "term": In(data.ArrayLayout(signed(ACC_BITS), cfg.pea_cols)),
            "p_valid": In(1),
            "p": In(signed(p_bits)).array(lanes),
        }
        if q_bits is not None:
            members.update({
                "q_valid": In(1),
                "q_tile": In(1),
                "q": In(signed(q_bits)).array(cfg.group_size * cfg.pea_cols),
            })
        members["y"] = Out(data.ArrayLayout(signed(ACC_BITS), lanes))
        super().__init__(members)

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        G, cols = cfg.group_size, cfg.pea_cols
        lanes = []          # one signal per lane, one assignment of y (fast on Icarus)
        for row in range(cfg.rows_per_pass):
            for c in range(cols):
                addends = [Mux(self.p_valid, self.p[row * cols + c], 0)]
                if self._q_bits is not None:
                    t, i = divmod(row, G)
                    assert t < TILES_PER_PASS
                    addends.append(Mux(self.q_valid & (self.q_tile == t),
                                       self.q[i * cols + c], 0))
                lanes.append(lane_accumulator(m, f"acc_{row}_{c}", init=self.init,
                                              init_value=self.term[c], addends=addends))
        m.d.comb += self.y.eq(Cat(lanes))
        return m
