"""Amaranth-simulator tests of the activation buffer: the block on its own (record, replay,
overflow refused and flagged) and the whole core with it (``tiny_ab`` and its baselines):
N > cols (several column blocks replayed), an M-blocked GEMM, stalls, and a run too big for
the buffer ending in ERROR/ABUF_OVERFLOW without hanging."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden_model.aqs_gemm import choose_r, slice_plan
from golden_model.config import PRESETS
from golden_model.streams import host_streams
from golden_model.tiling import tiled_gemm
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl.regmap import ErrorCode
from panacea_hdl.rtl.act_buffer import ActBuffer
from panacea_hdl.rtl.top import PanaceaCore
from panacea_hdl.sim.amaranth_host import AmaranthPort, simulate
from panacea_hdl.sim.gemm import job_from_run, make_job

TAB = PRESETS["tiny_ab"]


def test_buffer_record_replay_overflow():
    dut = ActBuffer(8, 5)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    rng = random.Random(3)

    async def tb(ctx):
        async def pulse(sig):
            ctx.set(sig, 1)
            await ctx.tick()
            ctx.set(sig, 0)

        async def consume(n, *, offer=None, wait=40):
            """Take n beats (random consumer stalls), the source offering ``offer`` in turn."""
            got, src = [], list(offer or [])
            for _ in range(wait * (n + 1)):
                if len(got) == n:
                    break
                ready = rng.random() < 0.7
                ctx.set(dut.o.ready, ready)
                if src:
                    ctx.set(dut.i.valid, rng.random() < 0.8)
                    ctx.set(dut.i.payload, src[0])
                else:
                    ctx.set(dut.i.valid, 0)
                ov, v, d, iv, ir = (ctx.get(s) for s in (dut.o.valid, dut.o.valid, dut.o.payload,
                                                          dut.i.valid, dut.i.ready))
                assert not ctx.get(dut.overflow)
                if ready and v:
                    got.append(d)
                if iv and ir:
                    src.pop(0)
                await ctx.tick()
            ctx.set(dut.o.ready, 0)
            ctx.set(dut.i.valid, 0)
            return got

        data = [17, 42, 99, 3, 255]
        await pulse(dut.record)
        assert await consume(4, offer=data[:4]) == data[:4]        # recorded as passed on
        for _ in range(3):                                        # replayed, stream not read
            await pulse(dut.replay)
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, 0xEE)
            assert ctx.get(dut.i.ready) == 0
            assert await consume(4) == data[:4]
            ctx.set(dut.o.ready, 1)                               # nothing more to replay
            assert ctx.get(dut.o.valid) == 0 and ctx.get(dut.i.ready) == 0
            ctx.set(dut.o.ready, 0)
        # a new record overwrites; 5 beats fill the buffer, the 6th is refused and flagged
        await pulse(dut.record)
        assert await consume(5, offer=data) == data
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.i.payload, 7)
        ctx.set(dut.o.ready, 1)
        assert ctx.get(dut.overflow) == 1
        assert ctx.get(dut.i.ready) == 0 and ctx.get(dut.o.valid) == 0
        ctx.set(dut.o.ready, 0)
        assert ctx.get(dut.overflow) == 0      # only when the consumer wants a beat
        ctx.set(dut.i.valid, 0)
        await pulse(dut.replay)
        assert await consume(5) == data

    sim.add_testbench(tb)
    sim.run()


def _jobs(cfg, rng, n):
    jobs = []
    for _ in range(n):
        K = rng.randint(1, 24)
        M = rng.randint(1, 2 * cfg.rows_per_pass)
        N = rng.randint(cfg.cols + 1, 3 * cfg.cols + 1)      # several column blocks
        A = skewed_activations(M, K, seed=rng.getrandbits(32), center=rng.randint(40, 200))
        W = random_weights(K, N, seed=rng.getrandbits(32))
        mode = rng.choice(cfg.modes)
        L = rng.choice(cfg.splits)
        jobs.append(make_job(cfg, A, W, rng.randint(0, 255), mode=mode, L=L,
                             r=choose_r(A, L) if mode == "aqs" else 0))
    return jobs


@pytest.mark.parametrize("name", ["tiny_ab", "tiny_ab_sibia", "tiny_ab_dense"])
def test_core_replays_column_blocks(name):
    """Y, every counter (abuf_writes/reads and ext_in_words included) and the cycles exactly;
    lo/ho sent once, replayed for the other column blocks; then the same with stalls."""
    cfg = PRESETS[name]
    rng = random.Random(7)
    jobs = _jobs(cfg, rng, 4)
    for j in jobs:      # the host sends the activations of one column block only
        assert j["counters"]["abuf_reads"] > 0
        first = j["schedule"][0]        # the buffer holds the unpacked vectors and words
        assert j["counters"]["abuf_writes"] == sum(s["lo_vectors"] + s["ho_words"] for s in first)
        assert len(j["streams"]["lo"]) == sum(s["lo"] for s in first)
        assert len(j["streams"]["ho"]) == sum(s["ho"] for s in first)
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=2)

    async def main(host, ctx):
        for j in jobs:
            _, _, problems = await host.run_job(j)
            assert not problems, problems
        port.set_stalls(0.3)
        for j in jobs[:2]:
            _, _, problems = await host.run_job(j, check_cycles=False)
            assert not problems, problems

    simulate(dut, port, cfg, main)


def test_core_m_blocked_gemm_and_overflow():
    """A GEMM the host blocks along M (four runs, each replaying its 3 column blocks), then
    a run too big for the buffer: ERROR/ABUF_OVERFLOW, no hang, and the core recovers."""
    cfg = TAB
    A = skewed_activations(40, 20, seed=5)
    W = random_weights(20, 9, seed=5)
    tg = tiled_gemm(A, W, 90, mode="aqs", L=4, r=choose_r(A, 4), cfg=cfg)
    assert len(tg.runs) == 4
    jobs = [job_from_run(cfg, run, W[run.tile.k0:run.tile.k1, run.tile.n0:run.tile.n1], 90)
            for run in tg.runs]
    # 16 rows x K = 20: 80 lo beats > 73 (the streams as the host would send them)
    A2 = A[:16]
    plan = slice_plan(A2, mode="aqs", L=4, r=choose_r(A2, 4), cfg=cfg)
    hs = host_streams(plan, W, np.zeros((16, 9), dtype=np.int32), cfg)
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=4)

    async def main(host, ctx):
        Y = np.zeros((40, 9), dtype=np.int64)
        for run, j in zip(tg.runs, jobs):
            beats, _, problems = await host.run_job(j)
            assert not problems, problems
            t = run.tile
            from golden_model.streams import unpack_y
            Y[t.m0:t.m1, t.n0:t.n1] = unpack_y(beats, j["M"], j["N"], cfg)
        assert np.array_equal(Y, tg.Y)
        for nm in ("w", "lo", "ho"):
            port.send(nm, getattr(hs, nm))
        await host.program(mode_code=2, r=plan.r, z=90, L=4, M=16, K=20, N=9)
        await host.start()
        st = await host.wait_idle(20_000)
        assert st == {"busy": False, "done": False, "error": True,
                      "errcode": ErrorCode.ABUF_OVERFLOW}, st
        assert ctx.get(dut.irq) == 1
        port.flush()
        _, _, problems = await host.run_job(jobs[0])
        assert not problems, problems

    simulate(dut, port, cfg, main)


def test_core_malformed_rle_and_abort_with_buffer():
    """A malformed ho word (recorded in the first column block): ERROR with its code and
    ERR_WORD, the bank flushed, no hang; an ABORT while a later block replays; then a good
    GEMM runs exactly (the buffer records afresh at every START)."""
    from golden_model import formats
    from panacea_hdl import regmap
    from panacea_hdl.sim.amaranth_host import axil_read_ok
    from sim_tests.unit.test_top import _golden_error_offset, _mutate

    cfg = TAB
    A = skewed_activations(7, 15, seed=9)
    W = random_weights(15, 9, seed=9)
    good = make_job(cfg, A, W, 100, mode="aqs", L=4, r=choose_r(A, 4))
    n = len(good["ho_words"])
    cases = []
    for kind in ("kind", "data", "overrun", "short", "skip_run"):
        bad = _mutate(cfg, good, n // 2, kind)
        off = _golden_error_offset(cfg, bad)
        if off is None:
            continue
        try:
            words, i = bad["ho_words"], 0
            while i < len(words):
                _, _, i = formats.rle_decode(cfg, words, 15, start=i)
        except formats.RLEError as e:
            cases.append((bad, regmap.RLE_ERROR_CODES[e.reason], off))
    assert len(cases) >= 3
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=6)

    async def main(host, ctx):
        for bad, code, off in cases:
            await host.start_job(bad)
            st = await host.wait_idle(20_000)
            assert st == {"busy": False, "done": False, "error": True, "errcode": code}, (st, code)
            assert await axil_read_ok(ctx, dut.csr, regmap.ERR_WORD) == off
            for _ in range(5):
                await ctx.tick()
            assert not ctx.get(dut.y.tvalid), "the bank must be flushed on error"
            port.flush()
            _, _, problems = await host.run_job(good)
            assert not problems, problems
        # ABORT in the last column block (replaying): idle with ABORTED, then a good run
        problems = await host.abort_job(good, good["counters"]["cycles"] - 20)
        assert not problems, problems
        _, _, problems = await host.run_job(good)
        assert not problems, problems

    simulate(dut, port, cfg, main)
