"""Unpackers of the packed ``lo`` and ``ho`` streams (``docs/formats.md``, "Packed streams").

The host packs ``lo`` vectors (``rows_per_pass`` lanes of the run-time split L bits) and RLE
words back to back into whole-byte bus beats (:func:`golden_model.formats.pack_bits`),
restarting at every pass. These blocks sit between the stream inputs and their consumers (the
skip controller's ``lo`` issue and the RLE decoder) and turn the beats back into one vector /
word per transfer:

* :class:`BitUnpacker`: a bit gearbox from beats of B bits to items of V bits (V a run-time
  choice among ``widths``, every V <= B) with a registered output (Fmax: no path from the
  leftover's shift into the RLE decoder's checks). The next item is the leftover bits of
  earlier beats (``count`` < B of them) followed by the beat on the input; the pass's restart
  cycle already loads its first item from a fresh beat, so no cycle is added: with the input
  always valid it delivers one item per cycle, at every V. A beat is taken only when the
  leftover holds less than one item; ``restart`` drops the leftover (the zero remainder of a
  pass's last beat); ``stop`` ends the loading once a pass's items are all loaded (K vectors,
  T END words), so the next pass's beats stay on the bus.
* :class:`LoUnpacker`: a ``BitUnpacker`` for ``lo`` whose item, ``rows_per_pass`` lanes of L
  bits, is spread into the consumers' lanes of ``lo_bits`` (zero-extended).
* :class:`HoUnpacker`: a ``BitUnpacker`` for RLE words at the run-time split (slices of 8 - L
  bits), widened to the decoder's layout.

Framing (``docs/formats.md``, "Packed streams"): TLAST marks the last beat of each pass's
packed ``lo`` and ``ho`` beats. A **truncated** pass — TLAST on a beat before the one holding
the pass's last item — is flagged: once the gearbox needs a beat after the pass's TLAST beat,
it takes none, and the unpacker's sticky ``error`` ends the GEMM (STATUS.ERROR, LO_TRUNCATED /
HO_TRUNCATED, ERR_WORD = ``error_index``, the index of the first missing item in the GEMM's
item stream). A stream that merely stops (no TLAST) is a stall, as a slow host is: the core
stays BUSY and the host ends the GEMM with ABORT. A malformed word inside a packed stream is the
RLE decoder's error, with ERR_WORD = its word index, as before.
"""

from __future__ import annotations

import math

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model import formats

from panacea_hdl.rtl.layouts import ConfigComponent, check_config, k_shape, lo_beat_layout, rle_word_layout

__all__ = ["BitUnpacker", "PassUnpacker", "LoUnpacker", "HoUnpacker"]


class BitUnpacker(wiring.Component):
    """Gearbox from ``beat_bits``-bit beats to items of ``widths[sel]`` bits (LSB first), with a
    registered output.

    The gearbox forms the next item from the leftover bits of earlier beats (``count`` < B of
    them) followed by the beat on the input, and loads it into the output register whenever
    the register is empty or its item is taken, unless ``stop`` is high. In a ``restart``
    cycle the leftover and the register are treated as empty (and cleared at its end), so the
    restart itself already loads the pass's first item: with the input valid the register is
    full in the first cycle after the restart and then refills every cycle — one item per
    cycle, no added cycle, at every V.

    Parameters
    ----------
    beat_bits : int
        B, the input beat width.
    widths : sequence of int
        The item widths V to choose from at run time; each 1 <= V <= B.

    Attributes
    ----------
    i : In(stream.Signature(B))
        Beats; a beat is taken together with the item that needs its bits.
    o : Out(stream.Signature(max(widths)))
        The item in the low V bits (bits above V are not part of it), from a register.
    sel : In(range(len(widths)))
        Index of V in ``widths``; change it only together with ``restart``.
    restart : In(1)
        Start of a pass: drop the leftover bits and the registered item.
    stop : In(1)
        Load no item this cycle (the pass's items are all loaded); not looked at in a
        ``restart`` cycle.
    i_last : In(1)
        TLAST of the beat on ``i``: the pass's last beat.
    fresh : In(1)
        The leftover counts as empty and the pass as not framed (the leftover of the pass
        before is its zero remainder): the next item is loaded from a fresh beat, when the
        register can take it (not looked at in a ``restart`` cycle). The leftover stays
        empty until an item is loaded.
    hide, show : In(1)
        An item loaded while ``hide`` is held back (``o.valid`` low) until ``show`` or a
        ``restart``: the next pass's, loaded ahead. The consumer must take nothing between a
        pass's last item and that pass's restart (the ready ignores the hold).
    short : Out(1)
        The pass is truncated: the gearbox needs a beat after the pass's TLAST beat (it takes
        none; the beats on the bus stay there).
    loaded : Out(1)
        An item is loaded into the register this cycle (``loaded_item``: its bits).
    loaded_item : Out(max(widths))
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
            "stop": In(1),
            "i_last": In(1),
            "fresh": In(1), "hide": In(1), "show": In(1),
            "short": Out(1),
            "loaded": Out(1),
            "loaded_item": Out(max(widths)),
            "count": Out(range(beat_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        B, widths = self.beat_bits, self.widths
        # every reachable count is a multiple of u: it starts at 0 and moves by +B - V or -V
        u = math.gcd(B, *widths)
        buf = Signal(max(1, B - 1))         # leftover bits, LSB first; bits >= count are 0
        count = self.count
        restart = self.restart

        def per_width(assign):
            """``assign(w)`` (a list of statements) in the case of each width, the first width
            as the default."""
            with m.Switch(self.sel):
                for s, w in enumerate(widths):
                    with m.Case(s):
                        m.d.comb += assign(w)
                with m.Default():
                    m.d.comb += assign(widths[0])

        q_valid = Signal()                  # the output register
        q_data = Signal(max(widths))
        q_hidden = Signal()                 # its item is the next pass's: not offered yet
        have_r = Signal()                   # count >= V, registered with count
        # the leftover counts as empty: ``fresh``, or a fresh cycle loaded nothing since (a
        # flag, so no register's next value depends on the load, only its enable)
        void = Signal()
        fresh = Signal()
        m.d.comb += fresh.eq(self.fresh | void)
        room = Signal()                     # not restarting: the register can load an item
        want = Signal()                     # not restarting: the next item needs a beat
        take_kept = Signal()                # not restarting: a beat is taken
        # not restarting: an item is loaded; kept, so the enables are ``restart | load_kept``
        # in one LUT behind the (early) restart instead of a tree ABC shares with the ready
        load_kept = Signal(attrs={"keep": 1})
        framed = Signal()                   # the pass's TLAST beat was taken (0 after a restart)
        have_e, framed_e = Signal(), Signal()   # as seen this cycle (``fresh``: empty, unframed)
        # the consumer takes the register's item (``q_hidden`` left out: a consumer takes
        # nothing between a pass's last item and the pass's restart, ``hide``)
        taken = Signal()
        m.d.comb += [
            have_e.eq(have_r & ~fresh),
            framed_e.eq(framed & ~fresh),
            taken.eq(q_valid & self.o.ready),
            room.eq((~q_valid | taken) & ~self.stop),
            want.eq(room & ~have_e),
            load_kept.eq(room & (have_e | (self.i.valid & ~framed_e))),
            take_kept.eq(self.i.valid & want & ~framed_e),
            # restarting: the leftover and the register count as empty and the pass is not
            # framed yet, so a beat on offer is taken and loaded
            self.i.ready.eq(Mux(restart, 1, want & ~framed_e)),
            self.short.eq(~restart & want & framed_e),
            self.loaded.eq(Mux(restart, self.i.valid, load_kept)),
            self.o.valid.eq(q_valid & ~q_hidden),
            self.o.payload.eq(q_data),
        ]
        # Fmax: ``restart`` and ``fresh`` are early (from registers); the late chained restart
        # of a pass (``show``) reaches only ``q_hidden``. The next values are computed without
        # the load: a load takes a beat exactly when the leftover holds no item (``have_e``).
        # - the next count and whether it holds an item, per V and take: constants added to
        #   and compared with count, no adder in front of the comparison
        cnt_take, cnt_keep = Signal.like(count), Signal.like(count)
        have_take, have_keep = Signal(), Signal()
        cnt_fresh, have_fresh = Signal.like(count), Signal()    # after a restart's load
        per_width(lambda w: [cnt_take.eq(count + (B - w)), cnt_keep.eq(count - w),
                             have_take.eq(count >= 2 * w - B), have_keep.eq(count >= 2 * w),
                             cnt_fresh.eq(B - w), have_fresh.eq(B >= 2 * w)])
        # - the leftover followed by the beat on offer (unless the leftover holds an item);
        #   count is a multiple of u below B, so the shift is a (B / u)-way multiplexer; after
        #   a restart the item is the beat alone
        merged_kept = Signal(2 * B - 1)
        beat = Mux(have_r, 0, self.i.payload)
        with m.Switch(count):
            for c in range(0, B, u):
                with m.Case(c):
                    m.d.comb += merged_kept.eq(buf | (beat << c))
            with m.Default():
                m.d.comb += merged_kept.eq(buf)
        merged = Signal(2 * B - 1)
        m.d.comb += [merged.eq(Mux(restart | fresh, self.i.payload, merged_kept)),
                     self.loaded_item.eq(merged)]
        # - after the item: shift it out (by V, a multiplexer over ``widths``)
        rest_kept, rest_fresh = Signal(len(buf)), Signal(len(buf))
        per_width(lambda w: [rest_kept.eq(merged_kept >> w), rest_fresh.eq(self.i.payload >> w)])
        with m.If(self.show | restart):
            m.d.sync += q_hidden.eq(0)
        with m.Elif(load_kept):
            m.d.sync += q_hidden.eq(self.hide)
        with m.If(restart):
            m.d.sync += framed.eq(self.i.valid & self.i_last)
            with m.If(self.i.valid):
                m.d.sync += [q_valid.eq(1), q_data.eq(self.i.payload), buf.eq(rest_fresh),
                             count.eq(cnt_fresh), have_r.eq(have_fresh)]
            with m.Else():
                m.d.sync += [q_valid.eq(0), buf.eq(0), count.eq(0), have_r.eq(0)]
        with m.Else():
            m.d.sync += framed.eq(framed_e | (take_kept & self.i_last))
            with m.If(load_kept):
                m.d.sync += q_valid.eq(1)
                with m.If(fresh):
                    m.d.sync += [q_data.eq(self.i.payload), buf.eq(rest_fresh),
                                 count.eq(cnt_fresh), have_r.eq(have_fresh)]
                with m.Else():
                    m.d.sync += [q_data.eq(merged_kept), buf.eq(rest_kept),
                                 count.eq(Mux(have_r, cnt_keep, cnt_take)),
                                 have_r.eq(Mux(have_r, have_keep, have_take))]
            with m.Elif(taken):
                m.d.sync += q_valid.eq(0)
        m.d.sync += void.eq(~restart & ~load_kept & fresh)
        return m


class PassUnpacker(ConfigComponent):
    """What the ``lo`` and ``ho`` unpackers share: a :class:`BitUnpacker` from packed bus beats
    to one item per transfer, with one item width per split, restarted per pass, and the framing
    of its stream (module docstring). Subclasses give the item widths and the output layout,
    stop the gearbox at the end of a pass and map its item to their output.

    Attributes
    ----------
    i : In(stream.Signature(bus_bits))
    o : Out(stream.Signature(out_shape))
    split : In(range(8))
        L; a value outside ``cfg.splits`` reads as the smallest split (the parameter check
        refuses such a GEMM before it starts).
    restart : In(1)
        Start of a pass: drop the leftover; this cycle already loads the pass's first item.
        Early (from registers). When the pass's first items were loaded ahead (below), it
        only offers them.
    chain : In(1)
        Start of a pass chained to the one before (late: from the consumers' offers); only
        offers the items loaded ahead.
    more : In(1)
        Another pass of this GEMM follows on the bus after the current one (its first beat
        is the one after this pass's TLAST beat): once the current pass's items are all
        loaded, its leftover is dropped and the next pass's items are loaded **ahead**, held
        back until its ``restart`` or ``chain``. Must be high in every ``chain`` cycle.
    enable : In(1)
        A GEMM is running (BUSY): outside a GEMM nothing is loaded, so the beats a host queues
        before START stay on the bus (also after an error or ABORT in mid-pass).
    i_last : In(1)
        TLAST of the beat on ``i``: it marks each pass's last beat.
    clear : In(1)
        START of a GEMM: the item count and ``error`` restart.
    error : Out(1)
        A pass of this GEMM was truncated (TLAST before its last item; registered, held until
        ``clear``).
    error_index : Out(32)
        The index of its first missing item among the GEMM's items on this stream (0-based,
        counting every item loaded since START).
    """

    def __init__(self, config, *, bus_bits, out_shape, members=None):
        self._config = check_config(config)
        self._bus_bits = bus_bits
        super().__init__({
            "i": In(stream.Signature(unsigned(bus_bits))),
            "o": Out(stream.Signature(out_shape)),
            "split": In(range(8)),
            **(members or {}),
            "restart": In(1),
            "chain": In(1),
            "more": In(1),
            "enable": In(1),
            "i_last": In(1), "clear": In(1), "error": Out(1), "error_index": Out(32),
        })

    def _gearbox(self, m, widths):
        """The gearbox of items of ``widths[s]`` bits at the s-th split, its framing and its
        split select; returns ``(gear, sel, new_pass, restart_full, fresh)``: ``new_pass``
        (``restart_full | fresh``, both early) starts the count of a pass's items. The caller
        drives the output payload and calls :meth:`_done` with its end-of-pass flag."""
        cfg = self._config
        m.submodules.gear = gear = BitUnpacker(self._bus_bits, widths)
        wiring.connect(m, wiring.flipped(self.i), gear.i)
        self._framing(m, gear)
        # the index of the run-time split among cfg.splits (a value outside them reads as the
        # first: the parameter check refuses such a GEMM)
        sel = Signal(range(max(2, len(cfg.splits))))
        with m.Switch(self.split):
            for s, L in enumerate(cfg.splits):
                with m.Case(L):
                    m.d.comb += sel.eq(s)
            with m.Default():
                m.d.comb += sel.eq(0)
        # The next pass ahead (Fmax: the chained restart, late, loads nothing): once this
        # pass's items are all loaded (``done``) and another pass of the GEMM follows on the
        # bus (``more``), the leftover (the pass's zero remainder) is dropped (``fresh``) and
        # the next pass's items are loaded as the register frees up, held back (``hide``)
        # until its restart (``restart`` or ``chain``: ``show``). A restart in that mode
        # (``ahead``) keeps it; any other is the full restart (drop all, load a fresh beat).
        ahead = Signal()                    # the gearbox is in the next pass already
        restart_full, fresh = Signal(), Signal()
        new_pass = Signal()
        show = Signal()
        m.d.comb += [
            show.eq(self.restart | self.chain),
            restart_full.eq(self.restart & ~ahead),
            new_pass.eq(restart_full | fresh),
            gear.sel.eq(sel), gear.restart.eq(restart_full),
            gear.fresh.eq(fresh), gear.hide.eq(ahead | fresh), gear.show.eq(show),
            self.o.valid.eq(gear.o.valid), gear.o.ready.eq(self.o.ready),
        ]
        m.d.sync += ahead.eq(self.enable & ~show & (ahead | fresh))
        self._ahead, self._fresh = ahead, fresh
        return gear, sel, new_pass, restart_full, fresh

    def _done(self, m, gear, done):
        """``done``: the pass's items are all loaded (of the next pass, when ahead)."""
        ahead, fresh = self._ahead, self._fresh
        m.d.comb += [
            # (not gated by ``enable``: idle, ``stop`` holds the gearbox and a fresh cycle only
            # drops the leftover and restarts the count; the next GEMM restarts in full)
            fresh.eq(~ahead & self.more & done),
            gear.stop.eq(~self.enable | (done & ~fresh)),
        ]

    def _framing(self, m, gear):
        """Pass ``i_last`` to the gearbox; count the items loaded in the GEMM (cleared by
        ``clear``, at START) and latch the first truncation with the index of the missing item."""
        m.d.comb += gear.i_last.eq(self.i_last)
        # the items are counted a cycle late, from the registered load (Fmax: the late restart
        # of a chained pass reaches the load, not a 32-bit counter): index = index_late + loaded_r
        index_late = Signal(32)
        loaded_r = Signal()
        m.d.sync += loaded_r.eq(gear.loaded & ~self.clear)
        with m.If(self.clear):
            m.d.sync += [index_late.eq(0), self.error.eq(0)]
        with m.Else():
            with m.If(loaded_r):
                m.d.sync += index_late.eq(index_late + 1)
            # no item is loaded in a cycle with ``short``: index is the first missing item
            with m.If(gear.short & ~self.error):
                m.d.sync += [self.error.eq(1), self.error_index.eq(index_late + loaded_r)]


class LoUnpacker(PassUnpacker):
    """Packed ``lo`` beats (``formats.lo_bus_bits``) -> one vector per transfer in the
    consumers' layout (``lo_beat_layout``: ``rows_per_pass`` lanes of ``lo_bits``), the lanes
    of L bits (``split``, one of ``cfg.splits``) zero-extended.

    Attributes
    ----------
    k_len : In(k_shape)
        K, the vectors of a pass (latched at the restart).

    and those of :class:`PassUnpacker`.
    """

    def __init__(self, *, config):
        cfg = check_config(config)
        if not cfg.caps.sliced:
            raise ValueError("the dense variant's lo beats are not packed (one vector per beat)")
        super().__init__(cfg, bus_bits=formats.lo_bus_bits(cfg), out_shape=lo_beat_layout(cfg),
                         members={"k_len": In(k_shape(cfg))})

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        rows, lmax = cfg.rows_per_pass, cfg.lo_bits
        splits = cfg.splits
        gear, sel, new_pass, restart_full, _ = self._gearbox(
            m, [formats.lo_vector_bits(cfg, L) for L in splits])
        # a pass has K vectors: load no more (the rest of the last beat is the zero remainder,
        # the next beat belongs to the next pass)
        # (K latched at the full restart, the GEMM's first: the host may program the next
        # GEMM's K while idle; the passes of one GEMM all have the same K)
        # Fmax: n == K (``done``) and n + 1 == K (``last``) are registers, so the stop is a
        # flip-flop; the late restart of a chained pass reaches no counter (``new_pass`` is
        # early). Before the first restart n == K holds (the reset values), so nothing loads.
        n = Signal(k_shape(cfg))            # items of the pass loaded before this cycle
        k_pass = Signal(k_shape(cfg))
        k_is0, k_is1, k_is2 = Signal(), Signal(), Signal()     # K == 0, 1, 2
        done = Signal(init=1)               # n == K
        last = Signal()                     # n + 1 == K
        with m.If(restart_full):
            m.d.sync += [k_pass.eq(self.k_len), k_is0.eq(self.k_len == 0),
                         k_is1.eq(self.k_len == 1), k_is2.eq(self.k_len == 2)]
        kn0, kn1, kn2 = Signal(), Signal(), Signal()    # K == 0, 1, 2 of the pass starting
        m.d.comb += [kn0.eq(Mux(restart_full, self.k_len == 0, k_is0)),
                     kn1.eq(Mux(restart_full, self.k_len == 1, k_is1)),
                     kn2.eq(Mux(restart_full, self.k_len == 2, k_is2))]
        with m.If(new_pass):
            m.d.sync += [n.eq(gear.loaded), done.eq(Mux(gear.loaded, kn1, kn0)),
                         last.eq(Mux(gear.loaded, kn2, kn1))]
        with m.Elif(gear.loaded):
            m.d.sync += [n.eq(n + 1), done.eq(last), last.eq(n + 2 == k_pass)]
        self._done(m, gear, done)
        raw = gear.o.payload
        out = self.o.payload.as_value()
        with m.Switch(sel):
            for s, L in enumerate(splits):
                lanes = [Cat(raw[i * L:(i + 1) * L], Const(0, lmax - L)) for i in range(rows)]
                with m.Case(s):
                    m.d.comb += out.eq(Cat(*lanes))
        return m


class HoUnpacker(PassUnpacker):
    """Packed ``ho`` beats (``formats.ho_bus_bits``) -> one RLE word per transfer.

    The words on the bus are at the run-time split L (``formats.rle_fields_at``: kind, run, G
    slices of 8 - L bits); each leaves in the decoder's layout (``rle_word_layout``), its
    slices zero-extended to H bits (``formats.widen_rle_word``). Attributes: those of
    :class:`PassUnpacker`.
    """

    def __init__(self, *, config):
        cfg = check_config(config)
        super().__init__(cfg, bus_bits=formats.ho_bus_bits(cfg), out_shape=rle_word_layout(cfg))

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        splits = cfg.splits
        gear, sel, new_pass, _, _ = self._gearbox(m, [formats.rle_word_bits(cfg, L) for L in splits])
        # the word at split L (kind, run, data: formats.rle_fields_at) -> the decoder's layout
        # (data, run, kind; slices of 8 - L bits zero-extended to H). Kind and run are at the
        # same bits at every split: only the data slices pass a per-split multiplexer.
        G, H, R, KB = cfg.group_size, cfg.ho_bits, cfg.rle_run_bits, formats.KIND_BITS
        raw = gear.o.payload
        kind, run = raw[:KB], raw[KB:KB + R]
        data = Signal(G * H)
        with m.Switch(sel):
            for s, L in enumerate(splits):
                h = 8 - L
                with m.Case(s):
                    m.d.comb += data.eq(Cat(*[Cat(raw[KB + R + i * h:KB + R + (i + 1) * h],
                                                  Const(0, H - h)) for i in range(G)]))
        word = Signal(formats.rle_word_bits(cfg))
        m.d.comb += word.eq(Cat(data, run, kind))
        # a pass has T packets: after the T-th END word load no more (the rest of the last beat
        # is the zero remainder, the next beat belongs to the next pass)
        # (counted from the output register, the cycle after the load: no path from the
        # gearbox's shift into the stop)
        T = cfg.tiles_per_pass
        q_end = Signal()
        m.d.comb += q_end.eq(kind == formats.END)
        fresh = Signal()                        # the register's item was loaded last cycle
        ends = Signal(range(T + 1))             # END words loaded before the register's item
        m.d.sync += fresh.eq(gear.loaded)
        with m.If(new_pass):
            m.d.sync += ends.eq(0)
        with m.Elif(fresh & q_end):
            m.d.sync += ends.eq(ends + 1)
        ended = Signal()                        # the pass's T END words are all loaded
        m.d.comb += ended.eq((ends == T) | ((ends == T - 1) & fresh & q_end))
        self._done(m, gear, ended)
        m.d.comb += self.o.payload.eq(word)
        return m
