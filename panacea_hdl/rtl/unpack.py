"""Unpackers of the packed ``lo`` and ``ho`` streams (``docs/formats.md``, "Packed streams").

The host packs ``lo`` vectors (``rows_per_pass`` lanes of the run-time split L bits) and RLE
words back to back into whole-byte bus beats (:func:`golden_model.formats.pack_bits`),
restarting at every pass. These blocks sit between the stream inputs and their consumers (the
skip controller's ``lo`` issue and the RLE decoder) and turn the beats back into one vector /
word per transfer:

* :class:`BitUnpacker`: a bit gearbox from beats of B bits to items of V bits (V a run-time
  choice among ``widths``, every V <= B). The item on offer is the leftover bits of earlier
  beats (``count`` < B of them) followed by the beat on the input, so no cycle is added: with
  the input always valid it delivers one item per cycle, at every V. A beat is taken only
  when the leftover holds less than one item and the item is taken; ``restart`` drops the
  leftover (the zero remainder of a pass's last beat).
* :class:`LoUnpacker`: a ``BitUnpacker`` for ``lo`` whose item, ``rows_per_pass`` lanes of L
  bits, is spread into the consumers' lanes of ``lo_bits`` (zero-extended).
* :class:`HoUnpacker`: a ``BitUnpacker`` for RLE words (one fixed width).

A truncated stream (fewer beats than the pass needs) stalls the consumer like a slow host: the
core stays BUSY and the host ends the GEMM with ABORT (STATUS.ERROR, ABORTED); a malformed word
inside a packed stream is the RLE decoder's error, with ERR_WORD = its word index, as before.
"""

from __future__ import annotations

import math

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model import formats

from panacea_hdl.rtl.layouts import ConfigComponent, check_config, lo_beat_layout, rle_word_layout

__all__ = ["BitUnpacker", "LoUnpacker", "HoUnpacker"]


class BitUnpacker(wiring.Component):
    """Gearbox from ``beat_bits``-bit beats to items of ``widths[sel]`` bits (LSB first).

    Parameters
    ----------
    beat_bits : int
        B, the input beat width.
    widths : sequence of int
        The item widths V to choose from at run time; each 1 <= V <= B.

    Attributes
    ----------
    i : In(stream.Signature(B))
        Beats; ``ready = o.ready & (count < V)``: a beat is taken together with the item that
        needs its bits.
    o : Out(stream.Signature(max(widths)))
        The next item in the low V bits (bits above V are not part of it);
        ``valid = (count >= V) | i.valid``.
    sel : In(range(len(widths)))
        Index of V in ``widths``; change it only together with ``restart``.
    restart : In(1)
        Drop the leftover bits at the end of this cycle (takes precedence over a transfer).
    count : Out(range(B))
        Leftover bits held (for tests).
    """

    def __init__(self, beat_bits, widths):
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1 or max(widths) > beat_bits:
            raise ValueError(f"item widths {widths} must be in 1..beat_bits={beat_bits}")
        self.beat_bits, self.widths = int(beat_bits), widths
        super().__init__({
            "i": In(stream.Signature(unsigned(beat_bits))),
            "o": Out(stream.Signature(unsigned(max(widths)))),
            "sel": In(range(max(2, len(widths)))),
            "restart": In(1),
            "count": Out(range(beat_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        B, widths = self.beat_bits, self.widths
        # every reachable count is a multiple of u: it starts at 0 and moves by +B - V or -V
        u = math.gcd(B, *widths)
        buf = Signal(max(1, B - 1))         # leftover bits, LSB first; bits >= count are 0
        count = self.count

        V = Signal(range(B + 1))
        with m.Switch(self.sel):
            for s, w in enumerate(widths):
                with m.Case(s):
                    m.d.comb += V.eq(w)
            with m.Default():
                m.d.comb += V.eq(widths[0])

        have = Signal()                     # the leftover holds a whole item
        take = Signal()                     # a beat is taken this cycle
        go = Signal()                       # an item is taken this cycle
        m.d.comb += [
            have.eq(count >= V),
            self.o.valid.eq(have | self.i.valid),
            self.i.ready.eq(self.o.ready & ~have),
            take.eq(self.i.valid & self.i.ready),
            go.eq(self.o.valid & self.o.ready),
        ]
        # the leftover followed by the beat on offer (unless the leftover holds an item: then
        # the beat waits); count is a multiple of u below B, so the shift is a (B / u)-way
        # multiplexer. Neither depends on o.ready (a stream's payload must not).
        merged = Signal(2 * B - 1)
        beat = Mux(have, 0, self.i.payload)
        with m.Switch(count):
            for c in range(0, B, u):
                with m.Case(c):
                    m.d.comb += merged.eq(buf | (beat << c))
            with m.Default():
                m.d.comb += merged.eq(buf)
        m.d.comb += self.o.payload.eq(merged)
        # after the item: shift it out (by V, a multiplexer over ``widths``)
        rest = Signal(len(buf))
        with m.Switch(self.sel):
            for s, w in enumerate(widths):
                with m.Case(s):
                    m.d.comb += rest.eq(merged >> w)
            with m.Default():
                m.d.comb += rest.eq(merged >> widths[0])
        with m.If(self.restart):
            m.d.sync += [buf.eq(0), count.eq(0)]
        with m.Elif(go):
            m.d.sync += [buf.eq(rest), count.eq(count + Mux(take, B, 0) - V)]
        return m


class LoUnpacker(ConfigComponent):
    """Packed ``lo`` beats (``formats.lo_bus_bits``) -> one vector per transfer in the
    consumers' layout (``lo_beat_layout``: ``rows_per_pass`` lanes of ``lo_bits``), the lanes
    of L bits (``split``, one of ``cfg.splits``) zero-extended.

    Attributes
    ----------
    i : In(stream.Signature(lo_bus_bits))
    o : Out(stream.Signature(lo_beat_layout))
    split : In(range(8))
        L; a value outside ``cfg.splits`` reads as the smallest split (the parameter check
        refuses such a GEMM before it starts).
    restart : In(1)
        Start of a pass: drop the leftover.
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        if not cfg.caps.sliced:
            raise ValueError("the dense variant's lo beats are not packed (one vector per beat)")
        super().__init__({
            "i": In(stream.Signature(unsigned(formats.lo_bus_bits(cfg)))),
            "o": Out(stream.Signature(lo_beat_layout(cfg))),
            "split": In(range(8)),
            "restart": In(1),
        })

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        rows, lmax = cfg.rows_per_pass, cfg.lo_bits
        splits = cfg.splits
        m.submodules.gear = gear = BitUnpacker(formats.lo_bus_bits(cfg),
                                               [formats.lo_vector_bits(cfg, L) for L in splits])
        wiring.connect(m, wiring.flipped(self.i), gear.i)
        sel = Signal(range(max(2, len(splits))))
        with m.Switch(self.split):
            for s, L in enumerate(splits):
                with m.Case(L):
                    m.d.comb += sel.eq(s)
            with m.Default():
                m.d.comb += sel.eq(0)
        m.d.comb += [gear.sel.eq(sel), gear.restart.eq(self.restart),
                     self.o.valid.eq(gear.o.valid), gear.o.ready.eq(self.o.ready)]
        raw = gear.o.payload
        out = self.o.payload.as_value()
        with m.Switch(sel):
            for s, L in enumerate(splits):
                lanes = [Cat(raw[i * L:(i + 1) * L], Const(0, lmax - L)) for i in range(rows)]
                with m.Case(s):
                    m.d.comb += out.eq(Cat(*lanes))
        return m


class HoUnpacker(ConfigComponent):
    """Packed ``ho`` beats (``formats.ho_bus_bits``) -> one RLE word per transfer.

    Attributes
    ----------
    i : In(stream.Signature(ho_bus_bits))
    o : Out(stream.Signature(rle_word_layout))
    restart : In(1)
        Start of a pass: drop the leftover.
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        super().__init__({
            "i": In(stream.Signature(unsigned(formats.ho_bus_bits(cfg)))),
            "o": Out(stream.Signature(rle_word_layout(cfg))),
            "restart": In(1),
        })

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        m.submodules.gear = gear = BitUnpacker(formats.ho_bus_bits(cfg), [formats.rle_word_bits(cfg)])
        wiring.connect(m, wiring.flipped(self.i), gear.i)
        m.d.comb += [gear.sel.eq(0), gear.restart.eq(self.restart),
                     self.o.valid.eq(gear.o.valid), gear.o.ready.eq(self.o.ready),
                     self.o.payload.eq(gear.o.payload)]
        return m
