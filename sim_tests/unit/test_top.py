"""Amaranth-simulator tests of the whole core (``panacea_hdl.rtl.top.PanaceaCore``).

A small host model drives the AXI4-Lite port and the w/lo/ho AXI4-Streams and collects ``y``;
many GEMMs run in one simulation. Every result is checked bit for bit against the golden model
(:func:`golden_model.aqs_gemm.aqs_gemm`, itself checked against the plain integer reference)
and every counter against :func:`golden_model.cycle_model.predict` (``cycles`` exactly when no
stream stalls). Error cases check STATUS/ERR_WORD against what the register map and
:func:`golden_model.formats.rle_decode` say.
"""

from __future__ import annotations

import gc
import random
import warnings
from collections import deque

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden_model import formats
from golden_model.aqs_gemm import choose_r
from golden_model.config import PRESETS
from golden_model.cycle_model import COUNTERS
from golden_model.streams import unpack_y
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl import regmap
from panacea_hdl.rtl.axi import RESP_SLVERR
from panacea_hdl.regmap import ErrorCode
from panacea_hdl.rtl.top import PanaceaCore
from panacea_hdl.sim.gemm import make_job
from sim_tests.unit.test_csr import axil_read_ok, axil_write, axil_write_ok

TINY = PRESETS["tiny"]
STREAMS = ("w", "lo", "ho")


class Host:
    """Stream sources/sink and register access for one simulated core."""

    def __init__(self, dut, *, seed=0):
        self.dut = dut
        self.rng = random.Random(seed)
        self.queues = {n: deque() for n in STREAMS}
        self.stall = {n: 0.0 for n in (*STREAMS, "y")}
        self.y = []                       # (beat, tlast) received
        self.generation = 0               # bumped by flush(): sources drop the beat they hold
        self.busy_cycles = 0              # cycles with busy = 1, counted by the host

    def set_stalls(self, p):
        for n in self.stall:
            self.stall[n] = p

    def flush(self):
        self.generation += 1
        for q in self.queues.values():
            q.clear()
        self.y.clear()

    def testbenches(self):
        return [self._source(n) for n in STREAMS] + [self._sink(), self._busy_monitor()]

    def _source(self, name):
        async def tb(ctx):
            port = getattr(self.dut, name)
            q = self.queues[name]
            while True:
                if not q or self.rng.random() < self.stall[name]:
                    ctx.set(port.tvalid, 0)
                    await ctx.tick()
                    continue
                gen = self.generation
                ctx.set(port.tdata, q[0])
                ctx.set(port.tvalid, 1)
                ctx.set(port.tlast, self.rng.random() < 0.5)    # must be ignored
                while True:
                    _, _, ready = await ctx.tick().sample(port.tready)
                    if ready or gen != self.generation:
                        break
                if ready and gen == self.generation:
                    q.popleft()
                ctx.set(port.tvalid, 0)
        return tb

    def _sink(self):
        async def tb(ctx):
            port = self.dut.y
            while True:
                ctx.set(port.tready, self.rng.random() >= self.stall["y"])
                _, _, v, r, d, last = await ctx.tick().sample(port.tvalid, port.tready,
                                                              port.tdata, port.tlast)
                if v and r:
                    self.y.append((d, last))
        return tb

    def _busy_monitor(self):
        async def tb(ctx):
            async for _, _, busy in ctx.tick().sample(self.dut.busy):
                self.busy_cycles += busy
        return tb

    # ---- register-level operations ------------------------------------------------------
    async def program(self, ctx, *, mode_code, r, z, L, M, K, N, requant=None):
        bus = self.dut.csr
        regs = [(regmap.MODE, mode_code), (regmap.RVAL, r), (regmap.ZP, z),
                (regmap.SPLIT, L), (regmap.DIM_M, M), (regmap.DIM_K, K), (regmap.DIM_N, N)]
        if requant is not None:             # builds with the requantization stage
            regs.append((regmap.REQUANT, requant))
        for addr, value in regs:
            await axil_write_ok(ctx, bus, addr, value)

    async def wait_idle(self, ctx, limit=200_000):
        for _ in range(limit):
            if not ctx.get(self.dut.busy):
                return
            await ctx.tick()
        raise AssertionError("core still busy")

    async def status(self, ctx):
        return regmap.decode_status(await axil_read_ok(ctx, self.dut.csr, regmap.STATUS))

    async def counters(self, ctx):
        return {name: await axil_read_ok(ctx, self.dut.csr, regmap.COUNTER_ADDR[name])
                for name in COUNTERS}

    async def run_job(self, ctx, job, *, cfg, check_cycles=True, during=None):
        """Queue the streams, program, START, wait, and check Y, tlast and all counters."""
        for n in STREAMS:
            self.queues[n].extend(job["streams"][n])
        self.y.clear()
        await self.program(ctx, mode_code=job["mode_code"], r=job["r"], z=job["z"], L=job["L"],
                           M=job["M"], K=job["K"], N=job["N"], requant=job.get("requant"))
        busy0 = self.busy_cycles
        await axil_write_ok(ctx, self.dut.csr, regmap.CTRL, regmap.CTRL_START)
        if during is not None:
            await during(ctx)
        await self.wait_idle(ctx)
        st = await self.status(ctx)
        assert st == {"busy": False, "done": True, "error": False, "errcode": ErrorCode.NONE}, st
        assert ctx.get(self.dut.irq) == 1
        for n in STREAMS:
            assert not self.queues[n], f"{n}: {len(self.queues[n])} beats not consumed"
        beats = [b for b, _ in self.y]
        lasts = [last for _, last in self.y]
        assert lasts == [0] * (len(lasts) - 1) + [1], "tlast must mark only the GEMM's last beat"
        rq_on = bool(job.get("requant", 0) or 0) and bool(job["requant"] & regmap.REQUANT_EN)
        Y = unpack_y(beats, job["M"], job["N"], cfg, requant=rq_on)
        np.testing.assert_array_equal(Y, np.array(job["Y"], dtype=np.uint8 if rq_on else np.int32))
        got = await self.counters(ctx)
        exp = dict(job["counters"])
        assert self.busy_cycles - busy0 == got["cycles"], "cycles counter != busy cycles seen"
        if not check_cycles:
            assert got["cycles"] >= exp["cycles"]
            got.pop("cycles")
            exp.pop("cycles")
        assert got == exp, {k: (got[k], exp[k]) for k in exp if got[k] != exp[k]}
        return got


def run_main(dut, host, main):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in host.testbenches():
        sim.add_testbench(tb, background=True)
    finished = []

    async def wrapped(ctx):
        await main(ctx)
        finished.append(True)
    sim.add_testbench(wrapped)
    sim.run()
    assert finished, "main testbench did not finish"


def _workload(cfg, rng, *, kind="skewed", M=None, K=None, N=None):
    M = M or rng.randint(1, 3 * cfg.rows_per_pass + 1)
    K = K or rng.randint(1, cfg.k_max)
    N = N or rng.randint(1, 3 * cfg.cols + 1)
    seed = rng.getrandbits(32)
    if kind == "skewed":
        A = skewed_activations(M, K, seed=seed, center=rng.randint(40, 200))
    elif kind == "uniform":
        A = np.random.default_rng(seed).integers(0, 256, size=(M, K), dtype=np.uint8)
    else:
        raise ValueError(kind)
    W = random_weights(K, N, seed=seed)
    if rng.random() < 0.2:
        W = np.where(np.random.default_rng(seed).random(W.shape) < 0.5, 127, -127).astype(np.int8)
    return A, W


def _rand_job(cfg, rng, **kw):
    A, W = _workload(cfg, rng, **kw)
    mode = rng.choice(("dense", "sibia", "aqs"))
    L = rng.choice(cfg.splits)
    r = choose_r(A, L) if rng.random() < 0.8 else rng.randrange(1 << (8 - L))
    z = rng.randint(0, 255)
    return make_job(cfg, A, W, z, mode=mode, L=L, r=r)


# ---- tests --------------------------------------------------------------------------------
def test_random_gemms_exact_cycles():
    """Random shapes (M, N off the tile; K up to k_max), modes, L, r, z: Y and every counter."""
    cfg = TINY
    dut = PanaceaCore(config=cfg)
    host = Host(dut, seed=1)
    rng = random.Random(11)
    jobs = [_rand_job(cfg, rng) for _ in range(14)]
    # corner shapes: one row, one column, K = 1, K = k_max, exactly one pass and block
    for (M, K, N) in [(1, 1, 1), (cfg.rows_per_pass, cfg.k_max, cfg.cols), (2, 3, 1)]:
        jobs.append(_rand_job(cfg, rng, M=M, K=K, N=N))

    async def main(ctx):
        for job in jobs:
            await host.run_job(ctx, job, cfg=cfg)

    run_main(dut, host, main)


def test_all_r_and_uniform_data():
    """All vectors skipped (every HO slice = r) and nearly none skipped (uniform data)."""
    cfg = TINY
    dut = PanaceaCore(config=cfg)
    host = Host(dut, seed=2)
    rng = np.random.default_rng(5)
    jobs = []
    for L in cfg.splits:
        M, K, N = 7, 45, 5
        r = int(rng.integers(0, 1 << (8 - L)))
        A = ((r << L) + rng.integers(0, 1 << L, size=(M, K))).astype(np.uint8)
        W = random_weights(K, N, seed=L)
        jobs.append(make_job(cfg, A, W, 3, mode="aqs", L=L, r=r))
        A0 = rng.integers(0, 1 << L, size=(M, K)).astype(np.uint8)     # HO all 0: sibia skips all
        jobs.append(make_job(cfg, A0, W, 200, mode="sibia", L=L, r=0))
        U = rng.integers(0, 256, size=(M, K)).astype(np.uint8)
        jobs.append(make_job(cfg, U, W, 128, mode="aqs", L=L, r=choose_r(U, L)))

    async def main(ctx):
        for job in jobs:
            await host.run_job(ctx, job, cfg=cfg)

    run_main(dut, host, main)


def run_with_stalls(cfg, jobs, *, seed=3):
    """Run ``jobs`` with random stalls on every stream (30-90 % by job): Y and the counters
    that do not depend on stalls are checked, cycles are not."""
    dut = PanaceaCore(config=cfg)
    host = Host(dut, seed=seed)

    async def main(ctx):
        for i, job in enumerate(jobs):
            host.set_stalls([0.3, 0.6, 0.1, 0.9][i % 4])
            await host.run_job(ctx, job, cfg=cfg, check_cycles=False)

    run_main(dut, host, main)


def test_random_stalls_every_stream():
    rng = random.Random(12)
    run_with_stalls(TINY, [_rand_job(TINY, rng, K=rng.randint(1, 40)) for _ in range(8)])


def test_default_preset_gemm():
    """The default preset (4 PEAs x 8 columns, G = 4): a skewed GEMM in two modes."""
    cfg = PRESETS["default"]
    dut = PanaceaCore(config=cfg)
    host = Host(dut, seed=4)
    A = skewed_activations(19, 70, seed=9)
    W = random_weights(70, 37, seed=9)
    jobs = [make_job(cfg, A, W, 104, mode=m, L=4, r=choose_r(A, 4)) for m in ("aqs", "dense")]

    async def main(ctx):
        for job in jobs:
            await host.run_job(ctx, job, cfg=cfg)

    run_main(dut, host, main)


def _mutate(cfg, job, index, kind):
    """Return a copy of ``job`` whose ho word ``index`` is made malformed in way ``kind``."""
    words = list(job["streams"]["ho"])
    G, H, R = cfg.group_size, cfg.ho_bits, cfg.rle_run_bits
    k, run, data, _ = formats.unpack_rle_word(cfg, words[index])
    if kind == "kind":
        w = data | (run << (G * H)) | (formats.RESERVED << (G * H + R))
    elif kind == "data":
        w = formats.pack_rle_word(cfg, formats.END if k == formats.END else formats.SKIP, run) | 1
    elif kind == "overrun":
        w = formats.pack_rle_word(cfg, formats.LIT, cfg.max_run, [1] * G)
    elif kind == "short":
        w = formats.pack_rle_word(cfg, formats.END, 0)
    elif kind == "skip_run":
        w = formats.pack_rle_word(cfg, formats.SKIP, run % cfg.max_run)
    else:
        raise ValueError(kind)
    words[index] = w
    bad = dict(job)
    bad["streams"] = dict(job["streams"], ho=words)
    return bad


def _golden_error_offset(cfg, job):
    """Index of the first bad word of the GEMM's ho stream per ``rle_decode``, or None."""
    words, K, i = job["streams"]["ho"], job["K"], 0
    while i < len(words):
        try:
            for _ in range(2):
                _, _, i = formats.rle_decode(cfg, words, K, start=i)
        except formats.RLEError as e:
            return e.offset
    return None


def test_malformed_rle_each_error_then_recover():
    cfg = TINY
    dut = PanaceaCore(config=cfg)
    host = Host(dut, seed=5)
    rng = random.Random(21)
    A = skewed_activations(9, 30, seed=3)
    W = random_weights(30, 6, seed=3)
    good = make_job(cfg, A, W, 100, mode="aqs", L=4, r=choose_r(A, 4))
    dense = make_job(cfg, A, W, 100, mode="dense", L=4, r=0)
    n = len(good["streams"]["ho"])
    cases = []
    for kind, code in (("kind", ErrorCode.RLE_KIND), ("data", ErrorCode.RLE_DATA),
                       ("overrun", ErrorCode.RLE_OVERRUN), ("short", ErrorCode.RLE_SHORT),
                       ("skip_run", ErrorCode.RLE_SKIP_RUN)):
        for index in (rng.randrange(n), rng.randrange(n)):
            bad = _mutate(cfg, good, index, kind)
            off = _golden_error_offset(cfg, bad)
            if off is None:
                continue
            # the class of the first error: recompute from the golden decoder's message
            try:
                _golden_decode_all(cfg, bad)
            except formats.RLEError as e:
                code = regmap.RLE_ERROR_CODES[e.reason]
            cases.append((bad, code, off))
    # dense mode: a nonzero run is an error (the golden decoder does not know modes)
    words = list(dense["streams"]["ho"])
    idx = len(words) // 2
    kk, run, data, sl = formats.unpack_rle_word(cfg, words[idx])
    words[idx] = formats.pack_rle_word(cfg, kk, 1, sl if kk == formats.LIT else None)
    cases.append((dict(dense, streams=dict(dense["streams"], ho=words)),
                  ErrorCode.RLE_DENSE_RUN, idx))
    assert len(cases) >= 5

    async def main(ctx):
        for bad, code, off in cases:
            for nm in STREAMS:
                host.queues[nm].extend(bad["streams"][nm])
            await host.program(ctx, mode_code=bad["mode_code"], r=bad["r"], z=bad["z"],
                               L=bad["L"], M=bad["M"], K=bad["K"], N=bad["N"])
            await axil_write_ok(ctx, dut.csr, regmap.CTRL, regmap.CTRL_START)
            await host.wait_idle(ctx)
            st = await host.status(ctx)
            assert st == {"busy": False, "done": False, "error": True, "errcode": code}, (st, code)
            assert ctx.get(dut.irq) == 1
            assert await axil_read_ok(ctx, dut.csr, regmap.ERR_WORD) == off
            for _ in range(5):
                await ctx.tick()
            assert not ctx.get(dut.y.tvalid), "the bank must be flushed on error"
            host.flush()
            await host.run_job(ctx, good, cfg=cfg)

    run_main(dut, host, main)


def _golden_decode_all(cfg, job):
    words, K, i = job["streams"]["ho"], job["K"], 0
    while i < len(words):
        for _ in range(2):
            _, _, i = formats.rle_decode(cfg, words, K, start=i)


def test_bad_params_abort_and_busy_rules():
    cfg = TINY
    dut = PanaceaCore(config=cfg)
    host = Host(dut, seed=6)
    A = skewed_activations(6, 20, seed=4)
    W = random_weights(20, 5, seed=4)
    good = make_job(cfg, A, W, 90, mode="aqs", L=4, r=choose_r(A, 4))
    base = dict(mode_code=2, r=3, z=0, L=4, M=5, K=9, N=3)
    bad_sets = [dict(mode_code=3), dict(L=2), dict(L=6), dict(L=0), dict(r=16),
                dict(L=5, r=8), dict(M=0), dict(K=0), dict(N=0), dict(K=cfg.k_max + 1)]

    async def main(ctx):
        # every bad parameter: ERROR BAD_PARAM, no busy cycle, counters cleared
        await host.run_job(ctx, good, cfg=cfg)
        for bad in bad_sets:
            await host.program(ctx, **{**base, **bad})
            b0 = host.busy_cycles
            await axil_write_ok(ctx, dut.csr, regmap.CTRL, regmap.CTRL_START)
            for _ in range(4):
                await ctx.tick()
            assert host.busy_cycles == b0, bad
            st = await host.status(ctx)
            assert st == {"busy": False, "done": False, "error": True,
                          "errcode": ErrorCode.BAD_PARAM}, (bad, st)
            assert all(v == 0 for v in (await host.counters(ctx)).values())
        # r = 2**(8-L) - 1 is fine in aqs, and any r is fine outside aqs
        for ok in (dict(L=5, r=7), dict(mode_code=1, r=200), dict(K=cfg.k_max)):
            await host.program(ctx, **{**base, **ok})
            await axil_write_ok(ctx, dut.csr, regmap.CTRL, regmap.CTRL_START)
            await ctx.tick()
            assert ctx.get(dut.busy), ok
            await axil_write_ok(ctx, dut.csr, regmap.CTRL, regmap.CTRL_ABORT)
            st = await host.status(ctx)
            assert st == {"busy": False, "done": False, "error": True,
                          "errcode": ErrorCode.ABORTED}, st
        # abort in the middle of a pass (stalled y keeps the bank full), then a good GEMM
        for nm in STREAMS:
            host.queues[nm].extend(good["streams"][nm])
        host.stall["y"] = 1.0
        await host.program(ctx, mode_code=good["mode_code"], r=good["r"], z=good["z"],
                           L=good["L"], M=good["M"], K=good["K"], N=good["N"])
        await axil_write_ok(ctx, dut.csr, regmap.CTRL, regmap.CTRL_START)
        for _ in range(60):
            await ctx.tick()
        assert ctx.get(dut.busy)
        # parameter writes while busy are refused; START while busy is ignored
        assert await axil_write(ctx, dut.csr, regmap.DIM_M, 77) == RESP_SLVERR
        assert await axil_read_ok(ctx, dut.csr, regmap.DIM_M) == good["M"]
        await axil_write_ok(ctx, dut.csr, regmap.CTRL, regmap.CTRL_START)
        assert (await host.status(ctx))["busy"]
        await axil_write_ok(ctx, dut.csr, regmap.CTRL, regmap.CTRL_ABORT)
        st = await host.status(ctx)
        assert st == {"busy": False, "done": False, "error": True,
                      "errcode": ErrorCode.ABORTED}, st
        host.set_stalls(0.0)
        for _ in range(3):
            await ctx.tick()
        assert not ctx.get(dut.y.tvalid)
        host.flush()
        # ABORT while idle is ignored
        await axil_write_ok(ctx, dut.csr, regmap.CTRL, regmap.CTRL_ABORT)
        assert (await host.status(ctx))["errcode"] == ErrorCode.ABORTED
        await host.run_job(ctx, good, cfg=cfg)
        await axil_write_ok(ctx, dut.csr, regmap.CTRL, regmap.CTRL_ABORT)
        assert await host.status(ctx) == {"busy": False, "done": True, "error": False,
                                          "errcode": ErrorCode.NONE}

        # START while busy does not restart or disturb a GEMM
        async def poke(ctx):
            for _ in range(30):
                await ctx.tick()
            await axil_write_ok(ctx, dut.csr, regmap.CTRL, regmap.CTRL_START)
        await host.run_job(ctx, good, cfg=cfg, during=poke)

    run_main(dut, host, main)


def test_rejects_non_config():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # the half-built component is never elaborated
        with pytest.raises(TypeError, match="config"):
            PanaceaCore(config="tiny")
        gc.collect()


def test_generate_is_deterministic(tmp_path):
    """generate(): top module panacea_<name>, byte-identical Verilog, params.json = to_json()."""
    from panacea_hdl.rtl.generate import generate

    cfg = TINY
    a = generate(cfg, out_dir=tmp_path / "a")
    b = generate(cfg, out_dir=tmp_path / "b")
    assert a["top"] == "panacea_tiny" and a["verilog"].name == "panacea_tiny.v"
    va, vb = a["verilog"].read_bytes(), b["verilog"].read_bytes()
    assert va == vb
    assert b"module panacea_tiny(" in va and str(tmp_path).encode() not in va
    assert a["params"].read_text() == cfg.to_json()
    for port in (b"csr__awaddr", b"w__tdata", b"lo__tdata", b"ho__tdata", b"y__tlast", b"irq"):
        assert port in va
    with pytest.raises(TypeError):
        generate("tiny")


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tiny", "default"])
def test_soak_random_gemms(preset):
    """Longer soak: many random GEMMs, alternately with and without stalls."""
    cfg = PRESETS[preset]
    dut = PanaceaCore(config=cfg)
    host = Host(dut, seed=100)
    rng = random.Random(101)
    jobs = [_rand_job(cfg, rng, K=rng.randint(1, min(cfg.k_max, 90)))
            for _ in range(60 if preset == "tiny" else 12)]

    async def main(ctx):
        for i, job in enumerate(jobs):
            stalls = i % 2 == 1
            host.set_stalls(rng.choice([0.1, 0.4, 0.8]) if stalls else 0.0)
            await host.run_job(ctx, job, cfg=cfg, check_cycles=not stalls)

    run_main(dut, host, main)
