# amaranth: UnusedElaboratable=no
"""The blocks of the LOAD overlap on their own: the weight buffer's two halves (ping-pong) and
the compensator's second term set (``docs/architecture.md``, "LOAD overlap")."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden_model import formats
from golden_model.config import PRESETS, PanaceaConfig
from panacea_hdl.rtl.pea.compensator import TERM_LATENCY, Compensator
from panacea_hdl.rtl.pea.weight_buffer import WeightBuffer
from sim_tests.unit.pea_contract import wrap32

ODD = PanaceaConfig(name="odd", group_size=3, pea_cols=5, num_peas=3, splits=(2, 6), k_max=100,
                    rle_run_bits=7)


def _run(dut, tb):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("cfg", [PRESETS["tiny"], ODD, PRESETS["tiny_dense"]],
                         ids=lambda c: c.name)
def test_weight_buffer_halves(cfg):
    """Block 0's rows in half 0; block 1's rows written into half 1 while every row of half 0
    is read in the same cycles (the reads see block 0, a write never disturbs them); after the
    flip the reads see block 1 and block 2's rows go into half 0. Power-of-two (tiny, 32 rows
    a half: an OR gate) and odd halves (k_max = 100: 50 rows, an adder); the INT8 array's
    one-port buffer too."""
    ports = 1 if cfg.variant == "dense" else 2
    dut = WeightBuffer(config=cfg, read_ports=ports)
    half = cfg.k_max // 2
    rng = np.random.default_rng(cfg.k_max)
    blocks = rng.integers(-128, 128, (3, half, cfg.pea_cols))
    raw_w, raw_a = dut.w_data.as_value(), dut.a_data.as_value()
    raw_b = dut.b_data.as_value() if ports == 2 else None
    unpack = lambda v: formats.unpack_lanes(v, 8, cfg.pea_cols, signed=True).tolist()

    async def tb(ctx):
        ctx.set(dut.r_half, 0)
        for k in range(half):                       # block 0 into half 0 (no overlap)
            ctx.set(dut.w_en, 1); ctx.set(dut.w_half, 0); ctx.set(dut.w_addr, k)
            ctx.set(raw_w, formats.pack_lanes(blocks[0][k], 8))
            await ctx.tick()
        for b in (1, 2):
            rd = (b - 1) % 2                        # the half block b - 1 is in
            for k in range(half):                   # write block b, read block b - 1
                kb = half - 1 - k
                ctx.set(dut.w_en, 1); ctx.set(dut.w_half, 1 - rd); ctx.set(dut.w_addr, k)
                ctx.set(raw_w, formats.pack_lanes(blocks[b][k], 8))
                ctx.set(dut.r_half, rd)
                ctx.set(dut.a_en, 1); ctx.set(dut.a_addr, k)
                if ports == 2:
                    ctx.set(dut.b_en, 1); ctx.set(dut.b_addr, kb)
                await ctx.tick()
                assert unpack(ctx.get(raw_a)) == blocks[b - 1][k].tolist(), (b, k)
                if ports == 2:
                    assert unpack(ctx.get(raw_b)) == blocks[b - 1][kb].tolist(), (b, kb)
            ctx.set(dut.w_en, 0)
            ctx.set(dut.r_half, 1 - rd)             # the flip: block b is read
            for k in rng.permutation(half)[:10]:
                ctx.set(dut.a_addr, int(k))
                await ctx.tick()
                assert unpack(ctx.get(raw_a)) == blocks[b][k].tolist(), (b, k)
        # K > k_max / 2: both halves 0, the rows address the whole buffer
        ctx.set(dut.r_half, 0); ctx.set(dut.w_half, 0)
        ctx.set(dut.w_en, 1); ctx.set(dut.w_addr, cfg.k_max - 1)
        ctx.set(raw_w, formats.pack_lanes([7] * cfg.pea_cols, 8))
        await ctx.tick()
        ctx.set(dut.w_en, 0); ctx.set(dut.a_addr, cfg.k_max - 1)
        await ctx.tick()
        assert unpack(ctx.get(raw_a)) == [7] * cfg.pea_cols

    _run(dut, tb)


@pytest.mark.parametrize("name", ["tiny", "tiny_sibia", "tiny_dense"])
def test_compensator_second_term_set(name):
    """Block 0's term built in ``term`` (init after each write); block 1's rows written with
    ``other`` while block 0 computes: ``term`` and the accumulators' init are untouched, and
    ``swap`` (once the last row has landed, TERM_LATENCY cycles later) makes block 1's term
    current from the next cycle; a third block's rows then go into the second set again,
    starting afresh (its first row clears it)."""
    cfg = PRESETS[name]
    dut = Compensator(config=cfg)
    rng = np.random.default_rng(5)
    cols, K = cfg.pea_cols, 7
    s, z, L = (3, 100, 4) if cfg.variant == "panacea" else (0, 100, 4)
    f = (s << L) - z if cfg.variant == "panacea" else -z
    Ws = rng.integers(-128, 128, (3, K, cols))
    want = [wrap32(f * W.astype(object).sum(0)) for W in Ws]
    raw_w, raw_t = dut.w.as_value(), dut.term.as_value()
    term = lambda ctx: formats.unpack_lanes(ctx.get(raw_t), 32, cols, signed=True).tolist()

    async def tb(ctx):
        if cfg.variant == "panacea":
            ctx.set(dut.s, s); ctx.set(dut.split, L)
        ctx.set(dut.z, z)
        inits = 0

        async def write_block(W, other):
            nonlocal inits
            for k in range(K):
                ctx.set(dut.load, 1); ctx.set(dut.clear, int(k == 0)); ctx.set(dut.other, other)
                ctx.set(raw_w, formats.pack_lanes(W[k], 8))
                inits += ctx.get(dut.init)
                await ctx.tick()
            ctx.set(dut.load, 0); ctx.set(dut.clear, 0); ctx.set(dut.other, 0)

        async def idle(n):
            nonlocal inits
            for _ in range(n):
                inits += ctx.get(dut.init)
                await ctx.tick()

        await write_block(Ws[0], 0)
        await idle(TERM_LATENCY + 1)
        assert term(ctx) == list(want[0]) and inits == K          # one init per row
        inits = 0
        await write_block(Ws[1], 1)
        await idle(TERM_LATENCY)
        assert term(ctx) == list(want[0]) and inits == 0           # block 0's term stays
        ctx.set(dut.swap, 1)
        await ctx.tick()
        ctx.set(dut.swap, 0)
        assert term(ctx) == list(want[1])
        await write_block(Ws[2], 1)
        await idle(TERM_LATENCY)
        assert term(ctx) == list(want[1]) and inits == 0
        ctx.set(dut.swap, 1)
        await ctx.tick()
        ctx.set(dut.swap, 0)
        assert term(ctx) == list(want[2])

    _run(dut, tb)


@pytest.mark.parametrize("name", ["tiny", "tiny_dense"])
def test_core_waits_for_a_stalled_next_load(name):
    """The whole core, ``w`` alone stalled 90 % of the cycles (so the next block's rows are
    still arriving when the block's last pass ends: the sequencer waits in WAIT_LOAD): every
    mode bit-exact, every counter but ``cycles`` as predicted, and ``cycles`` above the
    stall-free prediction; then the same jobs stall-free, cycle-exact."""
    import random

    from golden_model.aqs_gemm import choose_r
    from golden_model.workloads import random_weights, skewed_activations
    from panacea_hdl.rtl.top import PanaceaCore
    from panacea_hdl.sim.amaranth_host import AmaranthPort, simulate
    from panacea_hdl.sim.gemm import make_job

    cfg = PRESETS[name]
    rng = random.Random(3)
    jobs = []
    for mode in cfg.modes:
        M, K, N = cfg.rows_per_pass + 1, 13, 3 * cfg.cols + 1
        A = skewed_activations(M, K, seed=rng.getrandbits(16), center=rng.randint(60, 180))
        W = random_weights(K, N, seed=rng.getrandbits(16))
        L = cfg.splits[-1]
        jobs.append(make_job(cfg, A, W, rng.randint(0, 255), mode=mode, L=L, r=choose_r(A, L)))
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=4)

    async def main(host, ctx):
        for stall in (0.9, 0.0):
            port.stall["w"] = stall
            for job in jobs:
                _, got, problems = await host.run_job(job, check_cycles=not stall)
                assert not problems, "; ".join(problems)
                if stall:
                    assert got["cycles"] > job["counters"]["cycles"]

    simulate(dut, port, cfg, main)
