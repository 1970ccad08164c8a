"""Amaranth-simulator sweeps of the baseline variants of the whole core (``docs/baselines.md``).

The product's host driver drives them on its Amaranth-simulator port, as in ``test_top.py``. Every GEMM's result
is checked bit for bit against the golden model (itself checked against the plain integer
reference) and every counter, ``cycles`` included when no stream stalls, against
:func:`golden_model.cycle_model.predict` for the variant. Also: modes a variant cannot run
are BAD_PARAM, RVAL holds nothing in the baselines, the INT8 array never reads ``ho``.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from golden_model.aqs_gemm import choose_r
from golden_model.config import PRESETS
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl import regmap
from panacea_hdl.regmap import ErrorCode
from panacea_hdl.rtl.top import PanaceaCore
from panacea_hdl.sim.gemm import make_job
from panacea_hdl.sim.amaranth_host import AmaranthPort, axil_read_ok, axil_write_ok, simulate
from sim_tests.unit.test_top import _workload, run_main, run_ok, run_with_stalls

TINY_VARIANTS = ["tiny_sibia", "tiny_dense"]
#: the baselines of the tiles-per-pass presets: the same rows per pass (6 and 8)
TPP_VARIANTS = ["tiny_t3_dense", "tiny_t4_sibia"]


def _config(name):
    """A preset, or ``tiny_t<T>_<variant>``, the baseline of a tiles-per-pass preset."""
    if name in PRESETS:
        return PRESETS[name]
    base, variant = name.rsplit("_", 1)
    return PRESETS[base].replace(name=name, variant=variant)


def _variant_job(cfg, rng, **kw):
    """A random GEMM in a random mode the variant supports (random L, r, z)."""
    A, W = _workload(cfg, rng, kind=rng.choice(("skewed", "skewed", "uniform")), **kw)
    mode = rng.choice(cfg.modes)
    L = rng.choice(cfg.splits)
    r = choose_r(A, L) if rng.random() < 0.8 else rng.randrange(1 << (8 - L))
    return make_job(cfg, A, W, rng.randint(0, 255), mode=mode, L=L, r=r)


@pytest.mark.parametrize("name", TINY_VARIANTS + TPP_VARIANTS)
def test_random_gemms_exact_cycles(name):
    """Random shapes (M, N off the tile; K up to k_max), modes, L, z: Y and every counter."""
    cfg = _config(name)
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=1)
    rng = random.Random(31)
    jobs = [_variant_job(cfg, rng) for _ in range(8)]
    for (M, K, N) in [(1, 1, 1), (cfg.rows_per_pass, cfg.k_max, cfg.cols), (2, 3, 1),
                      (3 * cfg.rows_per_pass + 1, 2, 2 * cfg.cols + 1)]:
        jobs.append(_variant_job(cfg, rng, M=M, K=K, N=N))
    assert {j["mode"] for j in jobs} == set(cfg.modes)

    async def main(host, ctx):
        for job in jobs:
            got = await run_ok(host, job)
            if cfg.variant == "dense":
                assert got["rle_words"] == got["dwo_busy"] == 0

    run_main(dut, port, main, cfg)


@pytest.mark.parametrize("name", TINY_VARIANTS)
def test_random_stalls_every_stream(name):
    cfg = PRESETS[name]
    rng = random.Random(13)
    run_with_stalls(cfg, [_variant_job(cfg, rng, K=rng.randint(1, 40)) for _ in range(4)])


@pytest.mark.parametrize("name", ["default_sibia", "default_dense"])
def test_default_preset_variants(name):
    """The default-sized baselines (4 PEAs x 8 columns, G = 4): a skewed GEMM in the variant's
    most-skipping mode (the other modes run on the tiny variants)."""
    cfg = PRESETS[name]
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=4)
    A = skewed_activations(19, 40, seed=9)
    W = random_weights(40, 37, seed=9)
    jobs = [make_job(cfg, A, W, 104, mode=cfg.modes[-1], L=4, r=choose_r(A, 4))]

    async def main(host, ctx):
        for job in jobs:
            await run_ok(host, job)

    run_main(dut, port, main, cfg)


@pytest.mark.parametrize("name", ["tiny", *TINY_VARIANTS])
def test_modes_a_variant_cannot_run_are_bad_params(name):
    """Every MODE code outside the variant's modes: BAD_PARAM at START, no busy cycle, counters
    cleared; the supported ones start. RVAL reads back only where there is r logic."""
    cfg = PRESETS[name]
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=6)
    A = skewed_activations(6, 20, seed=4)
    W = random_weights(20, 5, seed=4)
    good = make_job(cfg, A, W, 90, mode=cfg.modes[-1], L=4, r=choose_r(A, 4))
    base = dict(r=3, z=0, L=4, M=5, K=9, N=3)

    async def main(host, ctx):
        await run_ok(host, good)          # counters nonzero before the bad STARTs
        for code in range(4):
            supported = code in regmap.MODE_NAMES and regmap.MODE_NAMES[code] in cfg.modes
            await host.program(mode_code=code, **base)
            b0 = port.busy_cycles
            await host.start()
            for _ in range(3):
                await ctx.tick()
            st = await host.status()
            if supported:
                assert st["busy"] and port.busy_cycles > b0, (code, st)
                await host.abort()
                st = await host.status()
                assert st["errcode"] == ErrorCode.ABORTED
                for _ in range(3):
                    await ctx.tick()
                port.flush()
            else:
                assert port.busy_cycles == b0, code
                assert st == {"busy": False, "done": False, "error": True,
                              "errcode": ErrorCode.BAD_PARAM}, (code, st)
                assert all(v == 0 for v in (await host.counters()).values())
        # RVAL: accepted everywhere; holds r only in the panacea variant
        await axil_write_ok(ctx, dut.csr, regmap.RVAL, 0xA5)
        rval = await axil_read_ok(ctx, dut.csr, regmap.RVAL)
        assert rval == (0xA5 if cfg.variant == "panacea" else 0)
        await run_ok(host, good)          # and it still works afterwards

    run_main(dut, port, main, cfg)
    assert {"tiny": 3, "tiny_sibia": 2, "tiny_dense": 1}[name] == len(cfg.modes)


def test_int8_array_never_reads_ho():
    """Words offered on ho while the dense variant runs a GEMM are never taken (tready low),
    and the GEMM is still exact with the predicted counters."""
    from golden_model.streams import unpack_y

    cfg = PRESETS["tiny_dense"]
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=8)
    A = skewed_activations(9, 17, seed=2)
    W = random_weights(17, 6, seed=2)
    job = make_job(cfg, A, W, 77, mode="dense", L=4, r=0)
    assert job["streams"]["ho"] == []
    ready_seen = []

    async def watch(ctx):
        async for _, _, ready in ctx.tick().sample(dut.ho.tready):
            ready_seen.append(ready)

    async def main(host, ctx):
        port.send("w", job["streams"]["w"])
        port.send("lo", job["streams"]["lo"])
        port.send("ho", [1, 2, 3])                      # offered, must stay untouched
        await host.program(mode_code=job["mode_code"], r=job["r"], z=job["z"], L=job["L"],
                           M=job["M"], K=job["K"], N=job["N"])
        await host.start()
        await host.wait_idle()
        assert (await host.status())["done"]
        assert not port.queues["w"] and not port.queues["lo"]
        assert [b for b, _ in port.queues["ho"]] == [1, 2, 3]
        Y = unpack_y([b for b, _ in await port.take_y(1000)], job["M"], job["N"], cfg)
        np.testing.assert_array_equal(Y, np.array(job["Y"], dtype=np.int32))
        assert await host.counters() == job["counters"]
        port.queues["ho"].clear()

    simulate(dut, port, cfg, main, extra=[watch])
    assert len(ready_seen) > job["counters"]["cycles"] and not any(ready_seen)


def test_sibia_ignores_rval_in_the_datapath():
    """The sibia variant computes with s = 0 whatever RVAL was written: a GEMM whose data has
    a frequent nonzero high slice, with that r written to RVAL, is still exact."""
    cfg = PRESETS["tiny_sibia"]
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=9)
    A = skewed_activations(11, 30, seed=5, center=150)
    W = random_weights(30, 7, seed=5)
    r = choose_r(A, 4)
    assert r != 0
    jobs = [make_job(cfg, A, W, 150, mode=m, L=4, r=r) for m in ("sibia", "dense")]
    assert all(j["r"] == r for j in jobs)

    async def main(host, ctx):
        for job in jobs:
            await run_ok(host, job)

    run_main(dut, port, main, cfg)


def test_verilog_converts_deterministically(tmp_path):
    """(The sibia variant's Verilog is built by the cocotb test.)"""
    from panacea_hdl.rtl.generate import generate

    name = "tiny_dense"
    cfg = PRESETS[name]
    a = generate(cfg, out_dir=tmp_path / "a")
    b = generate(cfg, out_dir=tmp_path / "b")
    va = a["verilog"].read_bytes()
    assert va == b["verilog"].read_bytes()
    assert f"module panacea_{name}(".encode() in va
    for port in (b"csr__awaddr", b"w__tdata", b"lo__tdata", b"ho__tdata", b"ho__tready",
                 b"y__tlast", b"irq"):
        assert port in va
