"""Skip controller: the pass scheduler of the PEAs (slice-skipping, double-tile processing).

It owns the ``lo`` stream and the :class:`~panacea_hdl.rtl.rle_decoder.RLEDecoder` of the ``ho``
stream, and issues the work of one pass to the PEAs:

* SWO: one low-order beat per cycle, all ``tiles_per_pass`` (T) tiles at once, k = 0 .. K-1
  (dense work);
* DWO: one literal per decoded LIT word, tile 0's packet, then tile 1's, ... tile T-1's
  (sparse work);
  SKIP and END words cost their cycle but issue nothing.

The two run concurrently, each stalled only by its own stream; with both streams always
valid a pass takes ``max(K, words)`` cycles, as ``golden_model.cycle_model.predict`` counts.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model import formats

from panacea_hdl.rtl.layouts import (ConfigComponent, check_config, ho_vector_layout, k_shape, lo_beat_layout,
                                     rle_word_layout)
from panacea_hdl.rtl.rle_decoder import RLEDecoder

__all__ = ["SkipController"]


class SkipController(ConfigComponent):
    """Pass scheduler: SWO issues from ``lo``, DWO issues from the decoded ``ho`` stream.

    Issue outputs are combinational in the cycle their beat/word is accepted (the PEA
    registers the operands and reads the weight row in that cycle).

    Parameters
    ----------
    config : PanaceaConfig
        Design parameters.

    Attributes
    ----------
    lo : In(stream.Signature(lo_beat_layout))
        Low-order beats; ``ready = active & (lo_count < K) & ~error`` (the compare
        registered: K is fixed from the restart on, as the sequencer guarantees).
    ho : In(stream.Signature(rle_word_layout))
        RLE words, passed to the decoder.
    restart : In(1)
        Start a new pass at the end of this cycle (lo_count = 0, decoder restarted).
    chain : In(1)
        The next pass may follow at once: in the cycle of the pass's last issue (the last
        ``lo`` beat and the T-th END both taken, in this cycle or earlier) the controller
        restarts itself (``pass_chain``) instead of reporting ``pass_done`` a cycle later, so
        the next pass's first issue is in the next cycle (the pass overlap).
    active : In(1)
        Held high by the top level while in its PASS state.
    k_len : In(k_shape)
        K.
    dense : In(1)
        Dense mode (a nonzero run is an error).
    swo_en, swo_k, swo_al : Out
        SWO issue: the lo beat accepted this cycle, at k = lo_count.
    dwo_en, dwo_k, dwo_tile, dwo_ah : Out
        DWO issue: the literal decoded this cycle.
    pass_done : Out(1)
        From registers: ``lo_count == K`` and the decoder has finished all T packets, i.e.
        the pass's last issue happened in an earlier cycle.
    pass_chain : Out(1)
        The pass's last issue is in this cycle and, with ``chain``, the next pass starts at
        the end of it.
    word_valid, skipped : Out
        The decoder's per-word outputs (for the performance counters).
    error, error_code : Out
        The decoder's latched error and its :class:`~panacea_hdl.regmap.ErrorCode`.
    """

    def __init__(self, *, config):
        self._config = check_config(config)
        cfg = self._config
        super().__init__({
            "lo": In(stream.Signature(lo_beat_layout(cfg))),
            "ho": In(stream.Signature(rle_word_layout(cfg))),
            "restart": In(1),
            "chain": In(1),
            "active": In(1),
            "k_len": In(k_shape(cfg)),
            "dense": In(1),
            "swo_en": Out(1),
            "swo_k": Out(k_shape(cfg)),
            "swo_al": Out(lo_beat_layout(cfg)),
            "dwo_en": Out(1),
            "dwo_k": Out(k_shape(cfg)),
            "dwo_tile": Out(range(cfg.tiles_per_pass)),
            "dwo_ah": Out(ho_vector_layout(cfg)),
            "pass_done": Out(1),
            "pass_chain": Out(1),
            "word_valid": Out(1),
            "skipped": Out(unsigned(cfg.rle_run_bits)),
            "error": Out(1),
            "error_code": Out(4),
        })

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        m.submodules.decoder = dec = RLEDecoder(config=cfg)

        wiring.connect(m, wiring.flipped(self.ho), dec.words)
        restart = Signal()                  # the top level's restart or a chained pass
        m.d.comb += [
            restart.eq(self.restart | self.pass_chain),
            dec.restart.eq(restart),
            dec.active.eq(self.active),
            dec.k_len.eq(self.k_len),
            dec.dense.eq(self.dense),
        ]

        # ---- SWO: the dense low-order beats, k = 0 .. K-1 ----------------------------------
        lo_count = Signal(k_shape(cfg))
        lo_last = Signal()                  # lo_count == K - 1 (registered, no adder here)
        # lo_count < K, registered (K is fixed from the restart on): the ready feeds the lo
        # unpacker's load enable, so no comparator in front of it (Fmax)
        lo_more = Signal()
        swo_go = Signal()
        m.d.comb += [
            self.lo.ready.eq(self.active & lo_more & ~dec.error),
            swo_go.eq(self.lo.valid & self.lo.ready),
            self.swo_en.eq(swo_go),
            self.swo_k.eq(lo_count),
            self.swo_al.eq(self.lo.payload),
        ]
        with m.If(restart):
            m.d.sync += [lo_count.eq(0), lo_last.eq(self.k_len == 1), lo_more.eq(self.k_len != 0)]
        with m.Elif(swo_go):
            m.d.sync += [lo_count.eq(lo_count + 1), lo_last.eq(lo_count + 2 == self.k_len),
                         lo_more.eq(~lo_last)]

        # ---- DWO: the decoded literals -----------------------------------------------------
        m.d.comb += [
            self.dwo_en.eq(dec.lit_valid),
            self.dwo_k.eq(dec.lit_k),
            self.dwo_tile.eq(dec.lit_tile),
            self.dwo_ah.eq(dec.lit_ah),
        ]

        # the pass's last issue is in this cycle: the lo beats end (the last one taken now, or
        # all taken before: ~lo_more) and the T-th END is taken now, or was before; written
        # out from registers and the two offers (the ho word's kind, the decoder's tile), not
        # through the handshakes: the chained restart fans out to the unpackers' enables (Fmax)
        pass_done = Signal()
        ok = Signal()                       # chaining allowed, no stream error
        lo_final = Signal()                 # the pass's last lo beat is on offer
        end_final = Signal()                # the pass's T-th END is on offer
        T = cfg.tiles_per_pass
        m.d.comb += [
            pass_done.eq(~lo_more & dec.finished),      # ~lo_more: lo_count == K
            ok.eq(self.chain & self.active & ~dec.error),
            lo_final.eq(self.lo.valid & lo_last),       # lo_last implies lo_more
            end_final.eq(self.ho.valid & (self.ho.payload.kind == formats.END)
                         & (dec.lit_tile == T - 1)),
            self.pass_done.eq(pass_done),
            self.pass_chain.eq(ok & ((lo_final & (dec.finished | end_final))
                                     | (~lo_more & ~dec.finished & end_final))),
            self.word_valid.eq(dec.word_valid),
            self.skipped.eq(dec.skipped),
            self.error.eq(dec.error),
            self.error_code.eq(dec.error_code),
        ]
        return m
