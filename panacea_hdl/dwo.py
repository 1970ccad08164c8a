"""DWO: the dynamic workload operator of one PEA (sparse high-order work).

``group_size x pea_cols`` processing elements: one literal (non-skipped) high-order vector of
one tile per issue. Each PE forms ``D = AH - s`` (signed, ``ho_bits + 1`` bits) and adds
``D*WL + ((D*WH) << 4)`` into the accumulator ``accH`` of its row of the selected tile. The DWO
owns the accumulators of both tiles (``rows_per_pass x pea_cols``), so its G-row PE array
serves the two tiles of a pass (double-tile processing).

Every lane has its own product and accumulator signal and its own output port (``acc`` is an
array of 32-bit members, not one wide vector), for simulation speed: see :mod:`panacea_hdl.swo`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden_model.config import ACC_BITS, TILES_PER_PASS

from .layouts import check_config, ho_vector_layout, w_row_layout
from .lanes import lane_accumulator, slice_product
from .weight_buffer import weight_digits

__all__ = ["DWO"]


class DWO(wiring.Component):
    """Sparse high-order MAC array with the accumulators ``accH`` of both tiles.

    Pipeline: an issue (``en``) in cycle t registers the tile and the differences
    ``D = ah - s``; the weight row (``w``, read by a synchronous port addressed in cycle t) is
    valid in cycle t+1, when the slice products are formed and registered (with the tile) at
    the edge ending t+1; they are added into the G accumulator rows of the tile at the edge
    ending t+2 (visible from t+3).

    Parameters
    ----------
    config : PanaceaConfig

    Attributes
    ----------
    en : In(1)
        Issue a MAC of the vector ``ah`` this cycle.
    tile : In(1)
        Tile of the vector: rows ``tile*G .. tile*G + G - 1`` of the pass.
    ah : In(ArrayLayout(unsigned(ho_bits), G))
        High-order slices of the tile's G rows.
    s : In(unsigned(ho_bits))
        Skip value subtracted from every slice (r in ``aqs`` mode, 0 otherwise).
    w : In(w_row_layout)
        Weight row of the issue of the previous cycle (read data).
    clear : In(1)
        Zero the accumulators at the end of this cycle (wins over the MAC completing then, the
        one issued two cycles earlier).
    acc : Out(signed(32)).array(rows_per_pass * pea_cols)
        ``accH``, one member (one port) per lane ``row * pea_cols + col``.
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        super().__init__({
            "en": In(1),
            "tile": In(1),
            "ah": In(ho_vector_layout(cfg)),
            "s": In(unsigned(cfg.ho_bits)),
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
        G, cols, H = cfg.group_size, cfg.pea_cols, cfg.ho_bits

        valid = Signal(name="mac_valid")
        tile = Signal(name="tile_r")
        d = Signal(data.ArrayLayout(signed(H + 1), G), name="d_r")
        m.d.sync += valid.eq(self.en)
        with m.If(self.en):
            m.d.sync += tile.eq(self.tile)
            for i in range(G):
                m.d.sync += d[i].eq(self.ah[i] - self.s)
        # stage 2: the slice products, registered with their tile
        valid2 = Signal(name="prod_valid")
        tile2 = Signal(name="prod_tile")
        m.d.sync += [valid2.eq(valid), tile2.eq(tile)]

        digits = [weight_digits(self.w[c]) for c in range(cols)]
        for i in range(G):
            for c in range(cols):
                # one signal per lane for the product and each accumulator (see module doc)
                prod = Signal(signed(H + 1 + 8 + 2), name=f"p_{i}_{c}")
                m.d.sync += prod.eq(slice_product(d[i], digits[c]))
                for t in range(TILES_PER_PASS):
                    row = t * G + i
                    acc = lane_accumulator(m, f"acc_{row}_{c}", clear=self.clear,
                                           add=valid2 & (tile2 == t), value=prod)
                    m.d.comb += self.acc[row * cols + c].eq(acc)
        return m
