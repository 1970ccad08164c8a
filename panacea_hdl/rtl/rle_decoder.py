"""RLE decoder: the high-order (``ho``) stream of one pass, one word per cycle.

Decodes the RLE packets of a pass (tile 0's, then tile 1's, ... tile T-1's, T =
``tiles_per_pass``) exactly as
:func:`golden_model.formats.rle_decode` defines them, with the same error classes; the word
format is documented in :mod:`golden_model.formats` and laid out by
:func:`panacea_hdl.rtl.layouts.rle_word_layout`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from golden_model import formats

from panacea_hdl.rtl.layouts import ConfigComponent, check_config, ho_vector_layout, k_shape, rle_word_layout
from panacea_hdl.regmap import ErrorCode

__all__ = ["RLEDecoder"]


class RLEDecoder(ConfigComponent):
    """Decoder of the RLE packets of one pass: tile 0's packet, tile 1's, ... tile T-1's.

    The words carry no tile index: the tile is a counter that each END advances.

    One word is accepted per cycle while ``active`` is high and the decoder is neither
    finished nor in error. Each accepted word is checked in this priority order (the order of
    :func:`golden_model.formats.rle_decode`, plus the dense-mode check):

    1. kind 3 -> ``RLE_KIND``;
    2. SKIP/END with nonzero data -> ``RLE_DATA``;
    3. nonzero run while ``dense`` -> ``RLE_DENSE_RUN``;
    4. SKIP whose run is not ``2**R - 1`` -> ``RLE_SKIP_RUN`` (so every word advances k);
    5. LIT at ``k + run >= K``, SKIP/END with ``k + run > K`` -> ``RLE_OVERRUN``;
    6. END with ``k + run != K`` -> ``RLE_SHORT``.

    A bad word is consumed, yields no literal and latches ``error``/``error_code``; nothing
    more is accepted until ``restart``. The decoder never hangs: with ``active`` high it either
    accepts a valid word or is finished or in error.

    Parameters
    ----------
    config : PanaceaConfig
        Design parameters (G, ho_bits, rle_run_bits, k_max).

    Attributes
    ----------
    words : In(stream.Signature(rle_word_layout))
        The ``ho`` stream; ``ready = active & ~finished & ~error``.
    restart : In(1)
        Return to the start of a pass (k = 0, tile 0, not finished, error cleared) at the
        end of this cycle; takes precedence over a word accepted in the same cycle, except
        that a malformed one still sets ``error`` (the skip controller restarts in the cycle
        of a pass's last word when it chains the next pass).
    active : In(1)
        The controller is in a pass.
    k_len : In(k_shape)
        K, the reduction length; latched (as ``K - k``) at ``restart`` and at each END, so it
        must be in place at the restart that begins a pass.
    dense : In(1)
        Dense mode: a nonzero run is an error.
    lit_valid : Out(1)
        Combinational: a LIT word was accepted without error this cycle.
    lit_k, lit_tile, lit_ah : Out
        Its position k, its tile (0 .. T-1) and its G high-order slices.
    word_valid : Out(1)
        A word (of any kind, even a bad one) was accepted this cycle.
    skipped : Out(unsigned(rle_run_bits))
        Run of the word accepted this cycle if it is good, else 0.
    finished : Out(1)
        Registered: all T packets have ended (high from the cycle after the T-th END).
    finishing : Out(1)
        Combinational: the T-th END word is accepted this cycle (good or bad; a bad one still
        sets ``error``, even under a ``restart`` of the same cycle).
    error : Out(1)
        Registered, latched until ``restart``: a malformed word was accepted.
    error_code : Out(4)
        :class:`~panacea_hdl.regmap.ErrorCode` of that (first) error.
    """

    def __init__(self, *, config):
        self._config = check_config(config)
        cfg = self._config
        super().__init__({
            "words": In(stream.Signature(rle_word_layout(cfg))),
            "restart": In(1),
            "active": In(1),
            "k_len": In(k_shape(cfg)),
            "dense": In(1),
            "lit_valid": Out(1),
            "lit_k": Out(k_shape(cfg)),
            "lit_tile": Out(range(cfg.tiles_per_pass)),
            "lit_ah": Out(ho_vector_layout(cfg)),
            "word_valid": Out(1),
            "skipped": Out(unsigned(cfg.rle_run_bits)),
            "finished": Out(1),
            "finishing": Out(1),
            "error": Out(1),
            "error_code": Out(4),
        })

    def elaborate(self, platform):
        cfg = self._config
        m = Module()

        k = Signal(k_shape(cfg))        # position of the next vector in the current packet
        rem = Signal(k_shape(cfg))      # k_len - k: the checks compare the run with it, so no
                                        # adder sits in front of a comparator
        T = cfg.tiles_per_pass
        tile = Signal(range(T))         # packet being decoded: 0 .. T-1
        if T == 2:
            # double-tile: the same logic as before tiles_per_pass existed, so the Verilog of
            # every T = 2 design stays byte-identical (tile 1 after the first END; the END of
            # tile 1 finishes)
            next_tile, last_tile = 1, tile
        else:
            next_tile, last_tile = tile + 1, tile == T - 1

        word = self.words.payload
        kind, run = word.kind, word.run
        data_nz = word.data.as_value().any()
        pos = Signal(range(cfg.k_max + cfg.max_run + 1))
        m.d.comb += pos.eq(k + run)

        run_inv = Signal(max(len(k), len(run)))
        # the run zero-extended to the full width, then inverted: ~run = -run - 1
        m.d.comb += run_inv.eq(~Cat(run, Const(0, len(run_inv) - len(run))))
        is_lit = kind == formats.LIT
        is_end = kind == formats.END

        # error class of the word on the bus, highest priority first
        code = Signal(4)
        with m.If(kind == formats.RESERVED):
            m.d.comb += code.eq(ErrorCode.RLE_KIND)
        with m.Elif(~is_lit & data_nz):
            m.d.comb += code.eq(ErrorCode.RLE_DATA)
        with m.Elif(self.dense & (run != 0)):
            m.d.comb += code.eq(ErrorCode.RLE_DENSE_RUN)
        with m.Elif((kind == formats.SKIP) & (run != cfg.max_run)):
            m.d.comb += code.eq(ErrorCode.RLE_SKIP_RUN)
        with m.Elif(Mux(is_lit, run >= rem, run > rem)):          # pos >= K, pos > K
            m.d.comb += code.eq(ErrorCode.RLE_OVERRUN)
        with m.Elif(is_end & (run != rem)):                        # pos != K
            m.d.comb += code.eq(ErrorCode.RLE_SHORT)
        with m.Else():
            m.d.comb += code.eq(ErrorCode.NONE)
        bad = code != ErrorCode.NONE

        accept = Signal()
        m.d.comb += [
            self.words.ready.eq(self.active & ~self.finished & ~self.error),
            accept.eq(self.words.valid & self.words.ready),
            self.word_valid.eq(accept),
            self.skipped.eq(Mux(accept & ~bad, run, 0)),
            self.lit_valid.eq(accept & ~bad & is_lit),
            self.lit_k.eq(pos),
            self.lit_tile.eq(tile),
            self.lit_ah.eq(word.data),
            self.finishing.eq(accept & is_end & last_tile),
        ]

        with m.If(self.restart):
            m.d.sync += [
                k.eq(0), rem.eq(self.k_len), tile.eq(0), self.finished.eq(0),
                self.error.eq(0), self.error_code.eq(ErrorCode.NONE),
            ]
            # a restart in the cycle of a pass's last word (the controller chaining the next
            # pass): a malformed last word is still reported
            with m.If(accept & bad):
                m.d.sync += [self.error.eq(1), self.error_code.eq(code)]
        with m.Elif(accept):
            # the position follows every accepted word, good or bad: after an error nothing
            # more is accepted until the restart, so only the flags depend on the (slow) checks
            with m.If(is_end):
                m.d.sync += [k.eq(0), rem.eq(self.k_len), tile.eq(next_tile)]
            with m.Elif(is_lit):
                # k + run + 1 and rem - run - 1, each with one carry chain: with the run's
                # complement over the full width, ~run = -run - 1 (mod 2**width)
                m.d.sync += [k.eq(k - run_inv), rem.eq(rem + run_inv)]
            with m.Else():
                m.d.sync += [k.eq(pos), rem.eq(rem - run)]
            with m.If(bad):
                m.d.sync += [self.error.eq(1), self.error_code.eq(code)]
            with m.Elif(is_end & last_tile):
                m.d.sync += self.finished.eq(1)
        return m
