"""DWO: the dynamic workload operator of one PEA (sparse high-order work).

``group_size x pea_cols`` processing elements: one literal (non-skipped) high-order vector of
one tile per issue. Each PE forms ``D = AH - s`` (signed, ``ho_bits + 1`` bits) and delivers
``(D*WL + ((D*WH) << 4)) << L`` with the tile it belongs to; the PEA's accumulators
(:class:`~panacea_hdl.rtl.pea.accumulators.Accumulators`) add it into the G rows of that tile, so the
G-row array serves the ``tiles_per_pass`` tiles of a pass (default two: double-tile processing).

Every lane has its own product signal and output port, for simulation speed: see
:mod:`panacea_hdl.rtl.pea.swo`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from panacea_hdl.rtl.lanes import (COMBINE_CYCLE, SPLIT_BITS, combine_stage, delay, digit_stage, operand_stage,
                                   product_range, product_stage, shift_by_split, signed_bits)
from panacea_hdl.rtl.layouts import ConfigComponent, check_config, ho_vector_layout, w_row_layout

__all__ = ["DWO"]


class DWO(ConfigComponent):
    """Sparse high-order MAC array: ``G x pea_cols`` slice-product lanes.

    Pipeline (:mod:`panacea_hdl.rtl.lanes`): an issue (``en``) in cycle t registers the tile and
    the differences ``D = ah - s``; the weight row (``w``, read by a synchronous port addressed
    in cycle t) is valid in cycle t+1, when its digits and the operands ``D << (L - min L)``
    are registered; the slice products are registered at the edge ending t+2 and combined at
    the edge ending t+3: ``q`` (the combined product ``<< min L``) shows the MAC in cycle t+4,
    on the lanes of its tile.

    Parameters
    ----------
    config : PanaceaConfig

    Attributes
    ----------
    en : In(1)
        Issue a MAC of the vector ``ah`` this cycle.
    tile : In(range(tiles_per_pass))
        Tile of the vector: rows ``tile*G .. tile*G + G - 1`` of the pass (1 bit for the
        default two tiles, ``ceil(log2(tiles_per_pass))`` bits in general).
    ah : In(ArrayLayout(unsigned(ho_bits), G))
        High-order slices of the tile's G rows.
    s : In(unsigned(ho_bits))
        Skip value subtracted from every slice (r in ``aqs`` mode, 0 otherwise).
    split : In(unsigned(3))
        Split L (one of ``config.splits``); stable during a GEMM.
    w : In(w_row_layout)
        Weight row of the issue of the previous cycle (read data).
    q : Out(signed(...)).array(rows_per_pass * pea_cols)
        Per accumulator lane ``row * pea_cols + col``: ``(D * W) << L`` of the issue four
        cycles earlier if it was for the row's tile (row ``tile * G + i`` gets PE ``i``'s
        product), else 0. Each PE's sum is computed once and registered once per tile.
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        # D = AH - s is in [-(2**H - 1), 2**H - 1] ([0, 2**H - 1] without r logic), shifted
        # by up to max L - min L on the operand, by min L after the combine stage
        top = (1 << cfg.ho_bits) - 1
        lo = min(cfg.splits)
        self._d_range = ((-top if cfg.caps.skip_value else 0) << (max(cfg.splits) - lo),
                         top << (max(cfg.splits) - lo))
        self._q_bits = signed_bits(*product_range(*self._d_range)) + lo
        super().__init__({
            "en": In(1),
            "tile": In(range(cfg.tiles_per_pass)),
            "ah": In(ho_vector_layout(cfg)),
            "s": In(unsigned(cfg.ho_bits)),
            "split": In(unsigned(SPLIT_BITS)),
            "w": In(w_row_layout(cfg)),
            "q": Out(signed(self._q_bits)).array(cfg.rows_per_pass * cfg.pea_cols),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        G, cols, H = cfg.group_size, cfg.pea_cols, cfg.ho_bits

        tile = Signal(range(cfg.tiles_per_pass), name="tile_r")
        d = Signal(data.ArrayLayout(signed(H + 1), G), name="d_r")
        with m.If(self.en):
            m.d.sync += tile.eq(self.tile)
            for i in range(G):
                m.d.sync += d[i].eq(self.ah[i] - self.s)
        valid = delay(m, self.en, COMBINE_CYCLE, name="valid")
        tile3 = delay(m, tile, COMBINE_CYCLE - 1, name="tile")      # tile_r is the first stage
        gates = [valid & (tile3 == t) for t in range(cfg.tiles_per_pass)]

        digits = digit_stage(m, self.w, name="w")
        # the shift by L is split: D << (L - min L) on the operand (one small multiplexer per
        # row, shared by the row's pea_cols lanes), the constant << min L on the combined
        # product (wiring): (D << (L - L0)) * W << L0 = (D * W) << L
        lo = min(cfg.splits)
        operands = []
        for i in range(G):
            x = shift_by_split(m, d[i], self.split, cfg.splits, base=lo, name=f"d_{i}_shifted")
            operands.append(operand_stage(m, x, name=f"d_{i}", lo=self._d_range[0],
                                          hi=self._d_range[1]))
        for i in range(G):
            for c in range(cols):
                prods = product_stage(m, operands[i], digits[c], name=f"q_{i}_{c}")
                qs = combine_stage(m, prods, name=f"q_{i}_{c}", gates=gates)
                for t, q in enumerate(qs):          # one copy per tile: row t*G + i
                    m.d.comb += self.q[(t * G + i) * cols + c].eq(q << lo)
        return m
