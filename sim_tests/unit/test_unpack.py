# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the packed-stream unpackers (:mod:`panacea_hdl.rtl.unpack`)
against :func:`golden_model.formats.pack_bits`: items across beat boundaries at every split,
one item per cycle with streams always valid, random stalls on both sides, restart between
passes (the zero remainder dropped), and a truncated stream: the unpacker offers only the
whole items the beats hold, then waits (a stall, never a made-up item) — or, when the frame's
TLAST came early, flags the truncation with the first missing item's index."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from golden_model import formats
from golden_model.config import preset
from panacea_hdl.rtl.unpack import BitUnpacker, HoUnpacker, LoUnpacker

TINY, DEFAULT, TINY_T3 = preset("tiny"), preset("default"), preset("tiny_t3")


def drive(dut, passes, *, p_in=1.0, p_out=1.0, seed=0, set_pass=None, max_cycles=20_000,
          payload=lambda ctx, dut: ctx.get(dut.o.payload)):
    """Feed ``passes`` (list of ``(beats, items to take)``), each starting with a restart cycle
    in which the consumer takes nothing (the top level's START / HANDOFF) while the pass's first
    beat may already be on offer; return per pass the items taken, the cycles after the
    restart until the last one, and the beats taken."""
    rng = random.Random(seed)
    out = []

    async def tb(ctx):
        for n, (beats, count) in enumerate(passes):
            if set_pass:
                set_pass(ctx, n)
            got, i, cycles, restart = [], 0, 0, True
            while len(got) < count and cycles < max_cycles:
                iv = i < len(beats) and rng.random() < p_in
                ordy = not restart and rng.random() < p_out
                ctx.set(dut.restart, restart)
                ctx.set(dut.i.valid, iv)
                ctx.set(dut.i.payload, beats[i] if iv else rng.getrandbits(len(dut.i.payload)))
                ctx.set(dut.o.ready, ordy)
                if ctx.get(dut.o.valid) and ordy:
                    got.append(payload(ctx, dut))
                if iv and ctx.get(dut.i.ready):
                    i += 1
                await ctx.tick()
                if not restart:
                    cycles += 1
                restart = False
            ctx.set(dut.i.valid, 0)
            ctx.set(dut.o.ready, 0)
            out.append((got, cycles, i))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return out


@pytest.mark.parametrize("B, widths", [(8, [3, 5, 8]), (24, [12, 16, 20]), (16, [15]),
                                       (32, [26]), (40, [24, 32, 40])])
def test_bit_unpacker_every_width(B, widths):
    rng = random.Random(B)
    dut = BitUnpacker(B, widths)
    passes, expect = [], []
    for s, V in enumerate(widths):
        for n in (1, 2, 7, 13):
            items = [rng.getrandbits(V) for _ in range(n)]
            passes.append((formats.pack_bits(items, V, B), n))
            expect.append((s, V, items))

    def set_pass(ctx, n):
        ctx.set(dut.sel, expect[n][0])

    mask = lambda ctx, d: ctx.get(d.o.payload)      # noqa: E731
    for p_in, p_out, seed in ((1.0, 1.0, 0), (0.6, 0.7, 1), (1.0, 0.5, 2)):
        res = drive(dut, passes, p_in=p_in, p_out=p_out, seed=seed, set_pass=set_pass, payload=mask)
        for (got, cycles, taken), (beats, n), (_, V, items) in zip(res, passes, expect):
            assert [g & ((1 << V) - 1) for g in got] == items
            assert taken == len(beats), "every beat of the pass taken"
            if p_in == p_out == 1.0:
                assert cycles == n, "one item per cycle"


@pytest.mark.parametrize("cfg", [TINY, TINY_T3, DEFAULT], ids=["tiny", "tiny_t3", "default"])
def test_lo_unpacker_every_split(cfg):
    rng = random.Random(3)
    dut = LoUnpacker(config=cfg)
    rows, lmax = cfg.rows_per_pass, cfg.lo_bits
    passes, expect = [], []
    for L in cfg.splits + cfg.splits:
        K = rng.randrange(1, 12)
        lanes = [[rng.getrandbits(L) for _ in range(rows)] for _ in range(K)]
        vecs = [formats.pack_lanes(v, L) for v in lanes]
        beats = formats.pack_bits(vecs, formats.lo_vector_bits(cfg, L), formats.lo_bus_bits(cfg))
        passes.append((beats, K))
        expect.append((L, [formats.pack_lanes(v, lmax) for v in lanes]))

    def set_pass(ctx, n):
        ctx.set(dut.split, expect[n][0])
        ctx.set(dut.k_len, passes[n][1])
        ctx.set(dut.enable, 1)

    for p_in, p_out, seed in ((1.0, 1.0, 0), (0.5, 0.8, 4)):
        res = drive(dut, passes, p_in=p_in, p_out=p_out, seed=seed, set_pass=set_pass,
                    payload=lambda ctx, d: ctx.get(d.o.payload.as_value()))
        for (got, cycles, taken), (beats, K), (L, want) in zip(res, passes, expect):
            assert got == want, L
            assert taken == len(beats)
            if p_in == p_out == 1.0:
                assert cycles == K


def test_ho_unpacker_words_and_truncation():
    cfg = TINY
    rng = random.Random(5)
    W, B = formats.rle_word_bits(cfg), formats.ho_bus_bits(cfg)
    dut = HoUnpacker(config=cfg)
    # LIT-kind words at split 3 (kind 0 in the low 2 bits, formats.rle_fields_at): no END, so
    # the unpacker never stops on its own; split 3 (the default ``split`` 0 reads as the
    # smallest split) has the decoder's word width
    assert W == formats.rle_word_bits(cfg, 3)
    words = [rng.getrandbits(W - formats.KIND_BITS) << formats.KIND_BITS for _ in range(20)]
    beats = formats.pack_bits(words, W, B)
    truncated = beats[:-3]
    whole = len(truncated) * B // W            # the words the short stream holds
    got = []

    async def tb(ctx):
        ctx.set(dut.enable, 1)
        ctx.set(dut.restart, 1)
        await ctx.tick()
        ctx.set(dut.restart, 0)
        ctx.set(dut.o.ready, 1)
        i = 0
        for _ in range(200):                   # far longer than the stream: it must just wait
            iv = i < len(truncated)
            ctx.set(dut.i.valid, iv)
            ctx.set(dut.i.payload, truncated[i] if iv else 0)
            if ctx.get(dut.o.valid):
                got.append(ctx.get(dut.o.payload.as_value()))
            if iv and ctx.get(dut.i.ready):
                i += 1
            await ctx.tick()
        assert i == len(truncated)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert got == [formats.widen_rle_word(cfg, w, 3) for w in words[:whole]]
    with pytest.raises(formats.PackError) as e:
        formats.unpack_bits(truncated, W, B, len(words))
    assert e.value.offset == whole


@pytest.mark.parametrize("L, keep", [(3, 4), (5, 3), (4, None)])
def test_lo_unpacker_framing(L, keep):
    """Two passes of K vectors, each its own frame (TLAST on its last beat); the second frame
    cut to ``keep`` beats with TLAST on the last one kept (None: whole). The unpacker delivers
    the whole vectors the frame holds, then flags ``error`` with ``error_index`` = K (the first
    pass) + floor(keep x B / V), derived here from the widths, and takes no beat after the
    frame's TLAST beat (the next frame's beats stay on the bus). A whole frame: no error.
    ``clear`` clears the error."""
    cfg = TINY
    K = 9
    B, V = formats.lo_bus_bits(cfg), formats.lo_vector_bits(cfg, L)
    rng = random.Random(L)
    vectors = [[rng.getrandbits(V) for _ in range(K)] for _ in range(2)]
    frames = [formats.pack_bits(v, V, B) for v in vectors]
    if keep is not None:
        assert keep < len(frames[1])
        frames[1] = frames[1][:keep]
    have = K if keep is None else keep * B // V     # whole vectors the cut frame holds
    assert have < K or keep is None
    extra = [rng.getrandbits(B) for _ in range(3)]  # the next GEMM's beats, on the bus after
    beats = [(b, j == len(f) - 1) for f in frames for j, b in enumerate(f)] + [(b, False) for b in extra]
    dut = LoUnpacker(config=cfg)
    seen = {"taken": 0, "items": []}

    async def tb(ctx):
        ctx.set(dut.split, L)
        ctx.set(dut.k_len, K)
        ctx.set(dut.enable, 1)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        i = 0
        for p in range(2):
            ctx.set(dut.restart, 1)
            got = 0
            for _ in range(4 * K + 10):
                b, last = beats[i] if i < len(beats) else (0, False)
                ctx.set(dut.i.valid, i < len(beats))
                ctx.set(dut.i.payload, b)
                ctx.set(dut.i_last, last)
                ctx.set(dut.o.ready, not ctx.get(dut.restart))
                if ctx.get(dut.o.valid) and ctx.get(dut.o.ready):
                    got += 1
                if i < len(beats) and ctx.get(dut.i.ready):
                    i += 1
                await ctx.tick()
                ctx.set(dut.restart, 0)
                if got == K:
                    break
            seen["items"].append(got)
        seen["taken"] = i
        seen["error"], seen["index"] = ctx.get(dut.error), ctx.get(dut.error_index)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        seen["cleared"] = ctx.get(dut.error)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert seen["items"] == [K, have]
    assert seen["taken"] == len(frames[0]) + len(frames[1])     # nothing past the TLAST beat
    assert seen["error"] == (keep is not None)
    if keep is not None:
        assert seen["index"] == K + have
    assert seen["cleared"] == 0


@pytest.mark.parametrize("name", ["tiny", "default"])
def test_ho_unpacker_widens_words_at_every_split(name):
    """Per split L: RLE words (LIT with slices below 2^(8-L), SKIP, END) narrowed and packed as
    the host sends them (``streams.pack_ho_pass``) come out of the unpacker in the decoder's
    layout, one per cycle, the pass ending after its T-th END word."""
    from golden_model.streams import pack_ho_pass

    cfg = preset(name)
    rng = random.Random(11)
    G, T = cfg.group_size, cfg.tiles_per_pass
    passes, expect = [], []
    for L in cfg.splits:
        words = []
        for _ in range(T):
            for _ in range(rng.randint(1, 7)):
                if rng.random() < 0.7:
                    words.append(formats.pack_rle_word(cfg, formats.LIT, rng.randint(0, 2),
                                                       [rng.getrandbits(8 - L) for _ in range(G)]))
                else:
                    words.append(formats.pack_rle_word(cfg, formats.SKIP, cfg.max_run))
            words.append(formats.pack_rle_word(cfg, formats.END, rng.randint(0, 3)))
        beats = pack_ho_pass(cfg, words, L)
        assert len(beats) == -(-len(words) * formats.rle_word_bits(cfg, L) // formats.ho_bus_bits(cfg))
        passes.append((beats, len(words)))
        expect.append(words)
    dut = HoUnpacker(config=cfg)

    def set_pass(ctx, n):
        ctx.set(dut.split, cfg.splits[n])
        ctx.set(dut.enable, 1)

    for p_in, p_out, seed in ((1.0, 1.0, 0), (0.6, 0.7, 3)):
        res = drive(dut, passes, p_in=p_in, p_out=p_out, seed=seed, set_pass=set_pass,
                    payload=lambda ctx, d: ctx.get(d.o.payload.as_value()))
        for (got, cycles, taken), (beats, n), want in zip(res, passes, expect):
            assert got == want
            assert taken == len(beats)
            if p_in == p_out == 1.0:
                assert cycles == n


@pytest.mark.parametrize("gap", [0, 1, 3])
@pytest.mark.parametrize("split", [3, 4, 5])
def test_lo_unpacker_loads_the_next_pass_ahead(split, gap):
    """Passes back to back on the bus (each framed by TLAST), a full ``restart`` only before the
    first, ``more`` while another pass follows: once a pass's K vectors are loaded the unpacker
    loads the next pass's first vector ahead but does not offer it until that pass's restart
    (``chain``, here ``gap`` cycles after the consumer took the pass's last vector, or in the
    same cycle). The vectors come out in order, the next pass's first one in the cycle after
    its ``chain`` (the consumer takes each as soon as it is offered), and no beat past the
    last pass's TLAST beat is taken."""
    cfg = TINY
    rng = random.Random(split * 10 + gap)
    V, B = formats.lo_vector_bits(cfg, split), formats.lo_bus_bits(cfg)
    Ks = [rng.randrange(1, 8) for _ in range(5)]
    K = max(Ks)
    Ks = [K] * len(Ks)                  # one GEMM: every pass has the same K
    vectors = [[rng.getrandbits(V) for _ in range(k)] for k in Ks]
    frames = [formats.pack_bits(v, V, B) for v in vectors]
    extra = [rng.getrandbits(B) for _ in range(3)]  # the next GEMM's beats
    beats = [(b, j == len(f) - 1) for f in frames for j, b in enumerate(f)] + [(b, False) for b in extra]
    dut = LoUnpacker(config=cfg)
    res = {"got": [], "late": 0, "early": 0}
    lmask = (1 << split) - 1

    async def tb(ctx):
        ctx.set(dut.split, split)
        ctx.set(dut.k_len, K)
        ctx.set(dut.enable, 1)
        ctx.set(dut.restart, 1)
        i, p, n, wait, chained = 0, 0, 0, None, False
        for _ in range(20 * K * len(Ks)):
            ctx.set(dut.more, p < len(Ks) - 1)
            b, last = beats[i] if i < len(beats) else (0, False)
            ctx.set(dut.i.valid, i < len(beats))
            ctx.set(dut.i.payload, b)
            ctx.set(dut.i_last, last)
            restart = ctx.get(dut.restart)
            ordy = not restart and n < K
            ctx.set(dut.o.ready, ordy)
            chain = False
            if n == K and ctx.get(dut.o.valid):
                res["early"] += 1               # offered before its pass's restart
            if ordy and ctx.get(dut.o.valid):
                pay = ctx.get(dut.o.payload.as_value())
                lanes = [(pay >> (r * cfg.lo_bits)) & lmask for r in range(cfg.rows_per_pass)]
                res["got"].append(formats.pack_lanes(lanes, split))
                if chained:
                    res["late"] += 0 if first_at == 0 else 1
                chained = False
                n += 1
                if n == K and gap == 0 and p < len(Ks) - 1:
                    chain = True
                elif n == K:
                    wait = gap
            elif wait is not None and p < len(Ks) - 1:
                if wait == 0:
                    chain = True
                    wait = None
                else:
                    wait -= 1
            if chain:
                p, n, chained, first_at = p + 1, 0, True, -1
            ctx.set(dut.chain, chain)
            if i < len(beats) and ctx.get(dut.i.ready):
                i += 1
            await ctx.tick()
            if chained:
                first_at += 1
            ctx.set(dut.restart, 0)
            if p == len(Ks) - 1 and n == K:
                break
        res["taken"] = i

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert res["got"] == [v for vs in vectors for v in vs]
    assert res["late"] == 0, "the next pass's first vector is offered in the cycle after chain"
    assert res["early"] == 0
    assert res["taken"] == sum(len(f) for f in frames)
