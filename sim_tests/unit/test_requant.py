"""The requantization stage (``panacea_hdl.rtl.requant``) in the Amaranth simulator against the
golden reference (``golden_model.requant.requantize``), and the whole ``tiny_rq`` core with
requantization enabled and disabled per GEMM (results and every counter, cycles exactly)."""

from __future__ import annotations

import random

import numpy as np
from amaranth.sim import Simulator

from golden_model import formats
from golden_model.aqs_gemm import choose_r
from golden_model.config import PRESETS
from golden_model.requant import INT32_MAX, INT32_MIN, RequantParams, requant_params, requantize
from golden_model.timing import REQUANT_CYCLES
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl.rtl.requant import RequantStage
from panacea_hdl.rtl.top import PanaceaCore
from panacea_hdl.sim.gemm import make_job
from panacea_hdl.sim.amaranth_host import AmaranthPort
from sim_tests.unit.test_top import run_main, run_ok

TINY_RQ = PRESETS["tiny_rq"]
EDGE = [INT32_MIN, INT32_MIN + 1, -(1 << 30), -65536, -3, -1, 0, 1, 2, 3, 65535, 1 << 30,
        INT32_MAX - 1, INT32_MAX]


def _stage_case(cfg, rng, n_rows):
    cols = cfg.cols
    acc = rng.integers(INT32_MIN, INT32_MAX, size=(n_rows, cols), dtype=np.int64, endpoint=True)
    acc[: len(EDGE)] = np.array(EDGE, dtype=np.int64)[:, None]
    acc[len(EDGE):len(EDGE) + 8] = rng.integers(-3000, 3000, size=(8, cols))
    bias = rng.integers(INT32_MIN, INT32_MAX, size=cols, dtype=np.int64, endpoint=True)
    bias[0] = 0
    mult = rng.integers(0, INT32_MAX, size=cols, dtype=np.int64, endpoint=True)
    mult[0] = INT32_MAX
    shift = rng.integers(-31, 1, size=cols)
    shift[0], shift[-1] = 0, -31
    return acc, RequantParams(bias, mult, shift, int(rng.integers(0, 256)))


def test_stage_matches_golden_edges_stalls_and_bypass():
    """Edge and random int32 rows through the stage, output stalls, two parameter sets (the
    second shifted in while rows of the first are still in the pipeline), then bypass."""
    cfg = TINY_RQ
    cols = cfg.cols
    dut = RequantStage(config=cfg)
    rng = np.random.default_rng(1)
    prng = random.Random(2)
    cases = [_stage_case(cfg, rng, 30) for _ in range(2)]
    received = []

    def pack_row(row):
        return formats.pack_lanes(row, 32)

    async def sink(ctx):
        while True:
            ctx.set(dut.o.ready, prng.random() >= 0.3)
            _, _, v, r, d, last = await ctx.tick().sample(dut.o.valid, dut.o.ready,
                                                          dut.o.payload.as_value(), dut.o_last)
            if v and r:
                received.append((int(d), last))

    async def header(ctx, rq):
        for beat in formats.requant_header(cfg, rq.bias, rq.mult, rq.shift):
            ctx.set(dut.hdr_data.as_value(), beat)
            ctx.set(dut.hdr_we, 1)
            await ctx.tick()
        ctx.set(dut.hdr_we, 0)

    async def send(ctx, acc, en, zp):
        ctx.set(dut.en, en)
        ctx.set(dut.out_zp, zp)
        for i, row in enumerate(acc):
            ctx.set(dut.i.payload.as_value(), pack_row(row))
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i_last, i == len(acc) - 1)
            while True:
                _, _, ready = await ctx.tick().sample(dut.i.ready)
                if ready:
                    break
            ctx.set(dut.i.valid, 0)
            if prng.random() < 0.2:
                await ctx.tick()

    async def main(ctx):
        acc0, rq0 = cases[0]
        await header(ctx, rq0)
        ctx.set(dut.commit, 1)
        await ctx.tick()
        ctx.set(dut.commit, 0)
        await send(ctx, acc0, 1, rq0.out_zp)
        acc1, rq1 = cases[1]
        await header(ctx, rq1)           # while rows of rq0 may still be in the pipeline
        while len(received) < len(acc0):
            await ctx.tick()
        ctx.set(dut.commit, 1)
        await ctx.tick()
        ctx.set(dut.commit, 0)
        await send(ctx, acc1, 1, rq1.out_zp)
        while len(received) < len(acc0) + len(acc1):
            await ctx.tick()
        await send(ctx, acc1, 0, 77)     # disabled: the int32 rows unchanged
        while len(received) < len(acc0) + 2 * len(acc1):
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(sink, background=True)
    sim.add_testbench(main)
    sim.run()

    beats = [b for b, _ in received]
    lasts = [int(l) for _, l in received]
    n0, n1 = len(cases[0][0]), len(cases[1][0])
    assert lasts == ([0] * (n0 - 1) + [1]) + ([0] * (n1 - 1) + [1]) * 2
    for (acc, rq), got in ((cases[0], beats[:n0]), (cases[1], beats[n0:n0 + n1])):
        exp = requantize(acc, rq.bias, rq.mult, rq.shift, rq.out_zp)
        assert all(b >> (8 * cols) == 0 for b in got)
        got_u8 = np.array([formats.unpack_lanes(b, 8, cols, signed=False) for b in got])
        np.testing.assert_array_equal(got_u8, exp)
    raw = np.array([formats.unpack_lanes(b, 32, cols, signed=True) for b in beats[n0 + n1:]])
    np.testing.assert_array_equal(raw, cases[1][0])


def _rq_for(N, rng, zp=None):
    scales = rng.uniform(2e-4, 4e-3, size=N)
    bias = rng.integers(-20000, 20000, size=N)
    return requant_params(scales, bias=bias, out_zp=int(rng.integers(0, 256) if zp is None else zp))


def test_core_requant_on_and_off_exact_cycles():
    """tiny_rq: GEMMs with requantization (several blocks, so headers come while the bank
    still sends the previous block) and without it on the same build, interleaved; Y and every
    counter (cycles exactly) as the golden model predicts."""
    cfg = TINY_RQ
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=3)
    prng = random.Random(4)
    rng = np.random.default_rng(5)
    jobs = []
    for i, (M, K, N) in enumerate([(6, 10, 5), (1, 1, 1), (9, 23, 11), (4, 64, 4), (13, 7, 9),
                                   (5, 3, 12)]):
        A = skewed_activations(M, K, seed=i, center=prng.randint(60, 180))
        W = random_weights(K, N, seed=i)
        mode = prng.choice(("dense", "sibia", "aqs"))
        L = prng.choice(cfg.splits)
        z = prng.randint(0, 255)
        rq = _rq_for(N, rng) if i % 3 != 2 else None
        jobs.append(make_job(cfg, A, W, z, mode=mode, L=L, r=choose_r(A, L), requant=rq))
    assert sum(j["requant"] & 1 for j in jobs) == 4

    async def main(host, ctx):
        for job in jobs:        # y beats exactly (uint8 lanes, OUT_ZP past N) and counters
            await run_ok(host, job)

    run_main(dut, port, main, cfg)


def test_core_requant_with_stalls():
    cfg = TINY_RQ
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=6)
    rng = np.random.default_rng(7)
    jobs = []
    for i in range(4):
        A = skewed_activations(7, 19, seed=10 + i)
        W = random_weights(19, 10, seed=10 + i)
        jobs.append(make_job(cfg, A, W, 100, mode="aqs", L=4, r=choose_r(A, 4),
                             requant=_rq_for(10, rng) if i != 1 else None))

    async def main(host, ctx):
        for i, job in enumerate(jobs):
            port.set_stalls([0.3, 0.6, 0.8, 0.2][i])
            await run_ok(host, job, check_cycles=False)

    run_main(dut, port, main, cfg)


def test_cycle_model_requant_terms():
    """The requant terms of the cycle model: header beats per block, REQUANT_CYCLES on a
    requant build, output bytes 4x fewer."""
    from golden_model.aqs_gemm import aqs_gemm
    from golden_model.cycle_model import predict

    A = skewed_activations(6, 10, seed=7)
    W = random_weights(10, 5, seed=7)
    _, plan = aqs_gemm(A, W, 100, mode="aqs", L=4, r=choose_r(A, 4), cfg=PRESETS["tiny"])
    base = predict(plan, 5, PRESETS["tiny"])
    off = predict(plan, 5, TINY_RQ)
    on = predict(plan, 5, TINY_RQ, requant=True)
    assert base.counters["cycles"] == 64                       # docs/architecture.md trace
    assert off.counters["cycles"] == 64 + REQUANT_CYCLES
    # with REQUANT.EN each block's header and LOAD precede its passes (no LOAD overlap): block
    # 1's 9 + 10 cycles are back on the timeline, and block 0's header
    assert on.counters["cycles"] == off.counters["cycles"] + 2 * formats.RQ_HEADER_BEATS + 10
    assert on.counters["ext_in_words"] == base.counters["ext_in_words"] + 2 * formats.RQ_HEADER_BEATS
    assert on.memory["out_bytes"] * 4 == base.memory["out_bytes"]
    assert {k: v for k, v in on.counters.items() if k not in ("cycles", "ext_in_words")} == \
        {k: v for k, v in base.counters.items() if k not in ("cycles", "ext_in_words")}
    import pytest
    with pytest.raises(ValueError, match="no requantization stage"):
        predict(plan, 5, PRESETS["tiny"], requant=True)


def test_requant_register_abort_and_recovery():
    """REQUANT reads back EN and OUT_ZP only (other bits 0), is refused while busy; an ABORT in
    the middle of a header and one while the y pipeline is full leave the core ready for the
    next requantized GEMM, exactly on time."""
    from panacea_hdl import regmap
    from panacea_hdl.regmap import ErrorCode
    from panacea_hdl.rtl.axi import RESP_SLVERR

    cfg = TINY_RQ
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=8)
    rng = np.random.default_rng(9)
    A = skewed_activations(9, 12, seed=5)
    W = random_weights(12, 10, seed=5)
    good = make_job(cfg, A, W, 90, mode="aqs", L=4, r=choose_r(A, 4), requant=_rq_for(10, rng))
    aborted = {"busy": False, "done": False, "error": True, "errcode": ErrorCode.ABORTED}

    async def start(host, job, stream_beats=None):
        for n in ("w", "lo", "ho"):
            beats = job["streams"][n]
            port.send(n, beats if stream_beats is None else beats[:stream_beats])
        await host.program(mode_code=job["mode_code"], r=job["r"], z=job["z"], L=job["L"],
                           M=job["M"], K=job["K"], N=job["N"], requant=job["requant"])
        await host.start()

    async def abort(host):
        await host.abort()
        assert await host.status() == aborted
        port.set_stalls(0.0)
        await port.ticks(REQUANT_CYCLES + 3)
        assert not port.y_valid()
        port.flush()

    async def main(host, ctx):
        await host.write_ok(regmap.REQUANT, 0xFFFF_FFFF)
        assert await host.read(regmap.REQUANT) == 0xFF01
        # abort after 4 of the 9 header beats of the first block
        await start(host, good, stream_beats=4)
        await port.ticks(20)
        assert ctx.get(dut.busy)
        assert await host.write(regmap.REQUANT, 0) == RESP_SLVERR
        await abort(host)
        await run_ok(host, good)
        # abort with y stalled: the bank and the requant pipeline hold rows
        port.stall["y"] = 1.0
        await start(host, good)
        await port.ticks(80)
        assert ctx.get(dut.busy)
        await abort(host)
        await run_ok(host, good)

    run_main(dut, port, main, cfg)


def test_requant_register_is_unmapped_without_the_stage():
    from panacea_hdl import regmap
    from panacea_hdl.rtl.axi import RESP_SLVERR
    from panacea_hdl.rtl.csr import CSR
    from sim_tests.unit.test_csr import axil_write

    dut = CSR(config=PRESETS["tiny"])
    result = []

    async def tb(ctx):
        result.append(await axil_write(ctx, dut.bus, regmap.REQUANT, 1))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert result == [RESP_SLVERR]


def test_core_requant_extreme_parameters():
    """Full-range int32 bias, multipliers up to INT32_MAX and every shift through the core
    (lanes saturate at 0 and 255 as well as landing in between)."""
    cfg = TINY_RQ
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=11)
    rng = np.random.default_rng(12)
    jobs = []
    for i in range(3):
        M, K, N = 7, 33, 12
        A = skewed_activations(M, K, seed=40 + i)
        W = random_weights(K, N, seed=40 + i)
        bias = rng.integers(INT32_MIN, INT32_MAX, size=N, dtype=np.int64, endpoint=True)
        bias[: N // 2] = rng.integers(-500, 500, size=N // 2)
        mult = rng.integers(0, INT32_MAX, size=N, dtype=np.int64, endpoint=True)
        mult[0] = INT32_MAX
        shift = -np.arange(N) * 31 // (N - 1)
        rq = RequantParams(bias, mult, shift, int(rng.integers(0, 256)))
        jobs.append(make_job(cfg, A, W, 100, mode="aqs", L=4, r=choose_r(A, 4), requant=rq))
    Ys = np.concatenate([np.array(j["Y"]) for j in jobs])
    assert (Ys == 0).any() and (Ys == 255).any() and ((Ys > 0) & (Ys < 255)).any()

    async def main(host, ctx):
        for job in jobs:
            await run_ok(host, job)

    run_main(dut, port, main, cfg)


def test_core_requant_with_three_tiles_per_pass():
    """The stage behind a bank of 3 tiles per pass (tiles_per_pass = 3): on and off."""
    cfg = PRESETS["tiny_t3"].replace(name="tiny_t3_rq", requant=True)
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=13)
    rng = np.random.default_rng(14)
    jobs = []
    for i, (M, K, N) in enumerate([(13, 21, 9), (7, 5, 4)]):
        A = skewed_activations(M, K, seed=50 + i)
        W = random_weights(K, N, seed=50 + i)
        jobs.append(make_job(cfg, A, W, 100, mode="aqs", L=4, r=choose_r(A, 4),
                             requant=_rq_for(N, rng) if i == 0 else None))

    async def main(host, ctx):
        for job in jobs:
            await run_ok(host, job)

    run_main(dut, port, main, cfg)
