# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of :class:`panacea_hdl.rtl.skip_controller.SkipController`.

Expectations come from the golden model, independently of the RLE format where possible:
the SWO must issue every low-order beat of the pass in k order, the DWO exactly the
non-skipped vectors of ``golden_model.aqs_gemm.slice_plan`` (tile 0 then tile 1), and a pass
with streams always valid must take ``max(K, words)`` cycles with ``words`` from
``golden_model.formats.rle_word_count`` (the cycle model's rule).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden_model import formats
from golden_model.aqs_gemm import MODES, choose_r, slice_plan
from golden_model.config import preset
from golden_model.formats import LIT, SKIP, pack_rle_word, rle_encode, rle_word_count
from golden_model.streams import host_streams
from panacea_hdl.regmap import ErrorCode
from panacea_hdl.rtl.skip_controller import SkipController

TINY = preset("tiny")
DEFAULT = preset("default")
TINY_T3, TINY_T4 = preset("tiny_t3"), preset("tiny_t4")      # 3 and 4 tiles per pass
CFGS, CFG_IDS = [TINY, DEFAULT, TINY_T3, TINY_T4], ["tiny", "default", "tiny_t3", "tiny_t4"]


def run_controller(cfg, passes, *, seed=0, p_lo=1.0, p_ho=1.0, tail=2, max_cycles=100_000):
    """Run ``passes`` (list of ``(lo_beats, ho_words, K, dense)``) the way the top level does:
    one restart cycle with ``active`` low (START / HANDOFF), then ``active`` high until
    ``pass_done`` (or an error), then the pass's DRAIN cycle.

    Returns one record per pass: SWO issues ``(k, beat)``, DWO issues ``(k, tile, vector
    int)``, ``cycles`` (first active cycle to the first ``pass_done`` cycle, exclusive),
    ``words`` accepted, sum of ``skipped``, and the final error state. Asserted on the way:
    the ``lo.ready`` rule, issues exactly on handshakes, nothing issued in the pass_done
    cycle, ``word_valid`` exactly on ``ho`` handshakes.
    """
    dut = SkipController(config=cfg)
    rng = random.Random(seed)
    lo_bits, ho_bits = formats.lo_beat_bits(cfg), formats.rle_word_bits(cfg)
    records = []

    async def tb(ctx):
        for lo, ho, K, dense in passes:
            # START / HANDOFF: restart with active low
            ctx.set(dut.active, 0)
            ctx.set(dut.lo.valid, 0)
            ctx.set(dut.ho.valid, 0)
            ctx.set(dut.restart, 1)
            ctx.set(dut.k_len, K)
            ctx.set(dut.dense, dense)
            assert not ctx.get(dut.swo_en) and not ctx.get(dut.dwo_en)
            await ctx.tick()
            ctx.set(dut.restart, 0)
            rec = {"swo": [], "dwo": [], "words": 0, "skipped": 0, "cycles": None}
            i_lo = i_ho = 0
            cycle, err_at = 0, None
            while cycle < max_cycles:
                lo_v = i_lo < len(lo) and rng.random() < p_lo
                ho_v = i_ho < len(ho) and rng.random() < p_ho
                ctx.set(dut.active, 1)
                ctx.set(dut.lo.valid, lo_v)
                ctx.set(dut.lo.payload.as_value(), lo[i_lo] if lo_v else rng.getrandbits(lo_bits))
                ctx.set(dut.ho.valid, ho_v)
                ctx.set(dut.ho.payload.as_value(), ho[i_ho] if ho_v else rng.getrandbits(ho_bits))
                err = ctx.get(dut.error)
                assert ctx.get(dut.lo.ready) == (i_lo < K and not err)
                if ctx.get(dut.pass_done):
                    rec["cycles"] = cycle
                    assert not ctx.get(dut.swo_en) and not ctx.get(dut.dwo_en)
                    assert not ctx.get(dut.ho.ready) and not ctx.get(dut.lo.ready)
                    break
                if err and err_at is None:
                    err_at = cycle
                if err_at is not None and cycle >= err_at + tail:
                    break
                lo_take = lo_v and ctx.get(dut.lo.ready)
                ho_take = ho_v and ctx.get(dut.ho.ready)
                assert ctx.get(dut.swo_en) == lo_take
                assert ctx.get(dut.word_valid) == ho_take
                if lo_take:
                    assert ctx.get(dut.swo_k) == i_lo
                    rec["swo"].append((i_lo, ctx.get(dut.swo_al.as_value())))
                    i_lo += 1
                if ho_take:
                    i_ho += 1
                    rec["skipped"] += ctx.get(dut.skipped)
                if ctx.get(dut.dwo_en):
                    assert ho_take
                    rec["dwo"].append((ctx.get(dut.dwo_k), ctx.get(dut.dwo_tile),
                                       ctx.get(dut.dwo_ah.as_value())))
                await ctx.tick()
                cycle += 1
            else:
                raise AssertionError("pass neither finished nor errored")
            rec["words"] = i_ho
            rec["error"] = bool(ctx.get(dut.error))
            rec["error_code"] = ErrorCode(ctx.get(dut.error_code))
            records.append(rec)
            # DRAIN cycle: active low, nothing is issued
            ctx.set(dut.active, 0)
            ctx.set(dut.lo.valid, 1)
            ctx.set(dut.ho.valid, 1)
            assert not ctx.get(dut.lo.ready) and not ctx.get(dut.ho.ready)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return records


def random_passes(cfg, rng, n, k_hi):
    """Random passes: random lo beats, ``tiles_per_pass`` random tiles with random skip
    masks.

    Returns ``(passes, expected)``; expected SWO/DWO issues come from the tiles themselves.
    """
    G = cfg.group_size
    passes, expected = [], []
    for _ in range(n):
        K = int(rng.choice([1, 2, cfg.max_run + 1, int(rng.integers(1, k_hi + 1))]))
        dense = bool(rng.random() < 0.2)
        p_skip = 0.0 if dense else float(rng.choice([0.0, 0.3, 0.6, 0.9, 1.0]))
        lo = [int(x) for x in rng.integers(0, 1 << formats.lo_beat_bits(cfg), size=K, dtype=np.uint64)]
        ho, dwo, masks = [], [], []
        for tile in range(cfg.tiles_per_pass):
            ah = rng.integers(0, 1 << cfg.ho_bits, size=(G, K))
            skip = rng.random(K) < p_skip
            ho += rle_encode(cfg, ah, skip)
            dwo += [(int(k), tile, formats.pack_lanes(ah[:, k], cfg.ho_bits)) for k in np.flatnonzero(~skip)]
            masks.append(skip)
        passes.append((lo, ho, K, dense))
        expected.append({"swo": list(enumerate(lo)), "dwo": dwo, "masks": np.array(masks),
                         "skipped": int(np.sum(masks))})
    return passes, expected


@pytest.mark.parametrize("cfg", CFGS, ids=CFG_IDS)
def test_pass_timing_no_stalls(cfg):
    """With both streams always valid a pass takes exactly max(K, words) cycles."""
    rng = np.random.default_rng(100 + cfg.k_max)
    passes, expected = random_passes(cfg, rng, 50, 60)
    # passes bound by the words (dense, many short runs) and by K (all skipped)
    for K in (1, cfg.k_max):
        for skip in (np.zeros(K, bool), np.ones(K, bool), np.arange(K) % (cfg.max_run + 1) == 0):
            ah = rng.integers(0, 1 << cfg.ho_bits, size=(cfg.group_size, K))
            masks = [~skip if t % 2 else skip for t in range(cfg.tiles_per_pass)]
            ho = sum((rle_encode(cfg, ah, mask) for mask in masks), [])
            passes.append(([0] * K, ho, K, False))
            expected.append({"masks": np.array(masks)})
    recs = run_controller(cfg, passes, seed=1)
    bound = {"K": 0, "words": 0}
    for rec, (lo, ho, K, _), exp in zip(recs, passes, expected):
        words = int(rle_word_count(exp["masks"], cfg.max_run).sum())
        assert words == len(ho)
        assert rec["cycles"] == max(K, words), (K, words)
        assert rec["words"] == words and len(rec["swo"]) == K and not rec["error"]
        bound["K" if K >= words else "words"] += 1
    assert bound["K"] and bound["words"]          # both regimes exercised


@pytest.mark.parametrize("cfg", CFGS, ids=CFG_IDS)
@pytest.mark.parametrize("p_lo,p_ho", [(0.5, 0.9), (0.9, 0.4), (0.3, 0.3)])
def test_random_stalls(cfg, p_lo, p_ho):
    """Random stalls on both streams: the issue sequences are still exactly the golden ones."""
    rng = np.random.default_rng(int(p_lo * 100) + int(p_ho * 10) + cfg.k_max)
    passes, expected = random_passes(cfg, rng, 25, 40)
    recs = run_controller(cfg, passes, seed=int(p_lo * 1000 + p_ho * 10), p_lo=p_lo, p_ho=p_ho)
    for rec, (lo, ho, K, _), exp in zip(recs, passes, expected):
        assert rec["swo"] == exp["swo"]
        assert rec["dwo"] == exp["dwo"]
        assert rec["skipped"] == exp["skipped"]
        assert rec["words"] == len(ho)
        assert rec["cycles"] >= max(K, len(ho))
        assert not rec["error"]


@pytest.mark.parametrize("cfg", [TINY, TINY_T3, TINY_T4], ids=["tiny", "tiny_t3", "tiny_t4"])
@pytest.mark.parametrize("mode", MODES)
def test_gemm_passes_from_host_streams(mode, cfg):
    """A whole GEMM's passes (3 passes, M not a multiple of the pass) as the host sends them:
    the SWO gets every AL column, the DWO exactly the plan's unskipped vectors, tile by tile."""
    T = cfg.tiles_per_pass
    rng = np.random.default_rng(MODES.index(mode))
    M, K, L, rows, G = 2 * cfg.rows_per_pass + 1, 37, 4, cfg.rows_per_pass, cfg.group_size
    # skewed activations around a zero point: many high slices equal r
    A = np.clip(rng.normal(100, 9, size=(M, K)).round(), 0, 255).astype(np.uint8)
    r = choose_r(A, L)
    plan = slice_plan(A, mode=mode, L=L, r=r, cfg=cfg)
    hs = host_streams(plan, np.zeros((K, 1), np.int8), np.zeros((M, 1), np.int32), cfg)
    passes, expected = [], []
    # the controller sits behind the unpackers (panacea_hdl.rtl.unpack): it takes lo vectors
    # in lanes of lo_bits and whole RLE words
    ho_i = 0
    for p, sched in enumerate(hs.schedule[0]):
        lo = [formats.pack_lanes(plan.AL[p * rows:(p + 1) * rows, k], cfg.lo_bits) for k in range(K)]
        ho = hs.ho_words[ho_i:ho_i + sched["ho_words"]]
        ho_i += sched["ho_words"]
        passes.append((lo, ho, K, mode == "dense"))
    for p in range(len(passes)):
        swo = [(k, formats.pack_lanes(plan.AL[p * rows:(p + 1) * rows, k], cfg.lo_bits)) for k in range(K)]
        dwo = [(int(k), t, formats.pack_lanes(plan.AH[(T * p + t) * G:(T * p + t + 1) * G, k], cfg.ho_bits))
               for t in range(T) for k in np.flatnonzero(~plan.vec_skip[T * p + t])]
        expected.append((swo, dwo, int(plan.vec_skip[T * p:T * (p + 1)].sum())))
    assert len(passes) == 3
    if mode != "dense":
        assert plan.vec_skip.any()                 # the workload does skip something
    for stalls in (False, True):
        recs = run_controller(cfg, passes, seed=5, p_lo=0.6 if stalls else 1, p_ho=0.7 if stalls else 1)
        for rec, (swo, dwo, skipped), (lo, ho, _, _) in zip(recs, expected, passes):
            assert rec["swo"] == swo and rec["dwo"] == dwo and rec["skipped"] == skipped
            if not stalls:
                assert rec["cycles"] == max(K, len(ho))


@pytest.mark.parametrize("cfg", CFGS, ids=CFG_IDS)
def test_error_stops_pass_and_recovers(cfg):
    """A malformed word: error and its code pass through, lo stops, pass_done never comes;
    after restart the next pass is exact."""
    rng = np.random.default_rng(9)
    (good, *_), (exp, *_) = random_passes(cfg, rng, 1, 30)
    lo, ho, K, dense = good
    G = cfg.group_size
    bad_cases = [
        (ho[:1] + [pack_rle_word(cfg, SKIP, 1) | 1] + ho[1:], False, ErrorCode.RLE_DATA),
        ([pack_rle_word(cfg, LIT, 1, [0] * G)] + ho, True, ErrorCode.RLE_DENSE_RUN),
        ([3 << (G * cfg.ho_bits + cfg.rle_run_bits)] + ho, False, ErrorCode.RLE_KIND),
        ([pack_rle_word(cfg, formats.END, 0)] * 2, False, ErrorCode.RLE_SHORT),
    ]
    passes = []
    for words, dense_, _ in bad_cases:
        passes += [(lo, words, K, dense_), good]
    recs = run_controller(cfg, passes, seed=3, p_lo=0.5, p_ho=1.0, tail=4)
    for i, (_, _, code) in enumerate(bad_cases):
        bad_rec, good_rec = recs[2 * i], recs[2 * i + 1]
        assert bad_rec["error"] and bad_rec["error_code"] == code
        assert bad_rec["cycles"] is None                  # no pass_done
        assert good_rec["swo"] == exp["swo"] and good_rec["dwo"] == exp["dwo"]
        assert not good_rec["error"]


def test_bad_config_rejected():
    with pytest.raises(TypeError, match="config must be a golden_model.config.PanaceaConfig"):
        SkipController(config="tiny")
    assert SkipController(config=TINY).config is TINY


def test_chained_passes_and_a_malformed_last_word():
    """With ``chain`` high the controller restarts itself in the cycle of a pass's last issue
    (``pass_chain``) and the next pass issues from the next cycle, with no ``pass_done``; a
    malformed T-th END that ends a chained pass still latches its error (RLE_SHORT), although
    the decoder restarts in the same cycle."""
    cfg, K = TINY, 3
    END = formats.END
    dut = SkipController(config=cfg)
    lit = pack_rle_word(cfg, LIT, 0, [7] * cfg.group_size)
    # pass 0: both tiles all skipped (END(K) each, cycles 0-1), lo beats in cycles 0-2: the
    # pass chains in cycle 2; pass 1: tile 0 END(K) (3), tile 1 LIT(0) LIT(0) (4, 5) and a
    # bad END(0) at k = 2 (6): lo ended in 5, so the bad END is the pass's last event
    ho = [pack_rle_word(cfg, END, K)] * 3 + [lit, lit, pack_rle_word(cfg, END, 0)]
    seen = {"chain": [], "done": [], "swo_k": [], "err": None}

    async def tb(ctx):
        ctx.set(dut.k_len, K)
        ctx.set(dut.restart, 1)
        await ctx.tick()
        ctx.set(dut.restart, 0)
        ctx.set(dut.active, 1)
        ctx.set(dut.chain, 1)
        ctx.set(dut.lo.valid, 1)
        i = 0
        for cycle in range(8):
            ctx.set(dut.ho.valid, i < len(ho))
            ctx.set(dut.ho.payload.as_value(), ho[i] if i < len(ho) else 0)
            if ctx.get(dut.ho.ready) and i < len(ho):
                i += 1
            if ctx.get(dut.pass_chain):
                seen["chain"].append(cycle)
            if ctx.get(dut.pass_done):
                seen["done"].append(cycle)
            if ctx.get(dut.swo_en):
                seen["swo_k"].append(ctx.get(dut.swo_k))
            await ctx.tick()
            if cycle == 6:
                seen["err"] = (ctx.get(dut.error), ctx.get(dut.error_code))
                ctx.set(dut.chain, 0)          # no third pass
                ctx.set(dut.lo.valid, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert seen["chain"] == [2, 6]
    assert seen["done"] == []
    assert seen["swo_k"] == [0, 1, 2, 0, 1, 2]
    assert seen["err"] == (1, ErrorCode.RLE_SHORT)
