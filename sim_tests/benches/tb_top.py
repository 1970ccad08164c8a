"""cocotb test cases of the generated Panacea core (``panacea_<name>``), any config.

The host is the product's (:class:`panacea_hdl.sim.host.CoreHost` on cocotbext-axi drivers);
every GEMM is built by :func:`panacea_hdl.sim.gemm.make_job` from the golden model, and the
host checks the result bit for bit, ``tlast``, STATUS and every counter against
:func:`golden_model.cycle_model.predict` (``cycles`` exactly when no stream stalls).
Environment: ``PANACEA_PARAMS`` (params.json of the build).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from golden_model import formats
from golden_model.aqs_gemm import choose_r
from golden_model.streams import pack_ho_words
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl import regmap
from panacea_hdl.regmap import ErrorCode
from panacea_hdl.sim.cocotb_bench import setup as _setup
from panacea_hdl.sim.gemm import make_job
from panacea_hdl.sim.host import status_budget


def _check(problems):
    assert not problems, "; ".join(problems)


def _skewed_job(cfg, mode, *, M, K, N, seed, L=None, z=104):
    L = L or cfg.default_split
    A = skewed_activations(M, K, seed=seed, center=z)
    W = random_weights(K, N, seed=seed)
    return make_job(cfg, A, W, z, mode=mode, L=L, r=choose_r(A, L))


def _shape(cfg):
    """M, N not multiples of the pass/tile; K not a multiple of anything."""
    K = min(cfg.k_max, 37)
    return dict(M=2 * cfg.rows_per_pass + 3, K=K, N=cfg.cols + max(1, cfg.cols // 2) + 1)


# ---- tests --------------------------------------------------------------------------------
@cocotb.test()
async def modes_skewed(dut):
    """dense, sibia, aqs on a skewed asymmetric workload: bit-exact, cycles == prediction."""
    host, cfg = await _setup(dut)
    for mode in ("dense", "sibia", "aqs"):
        job = _skewed_job(cfg, mode, seed=1, **_shape(cfg))
        _, got, problems = await host.run_job(job)
        _check([f"{mode}: {p}" for p in problems])
        dut._log.info("%s: %d cycles (predicted %d), %d vectors skipped", mode, got["cycles"],
                      job["counters"]["cycles"], got["skipped_vectors"])


@cocotb.test()
async def all_r_and_uniform(dut):
    """Every high-order slice = r (everything skipped) and uniform data (almost nothing)."""
    host, cfg = await _setup(dut)
    rng = np.random.default_rng(3)
    sh = _shape(cfg)
    M, K, N = sh["M"], sh["K"], sh["N"]
    L = cfg.splits[-1]
    r = int(rng.integers(1, 1 << (8 - L)))
    A = ((r << L) + rng.integers(0, 1 << L, size=(M, K))).astype(np.uint8)
    W = random_weights(K, N, seed=3)
    all_r = make_job(cfg, A, W, 77, mode="aqs", L=L, r=r)
    U = rng.integers(0, 256, size=(M, K)).astype(np.uint8)
    uniform = make_job(cfg, U, W, 128, mode="aqs", L=L, r=choose_r(U, L))
    for name, job in (("all-r", all_r), ("uniform", uniform)):
        _, got, problems = await host.run_job(job)
        _check([f"{name}: {p}" for p in problems])
    assert all_r["counters"]["dwo_busy"] == 0          # the workload is what it claims
    # tiles made only of padding rows (more tiles per pass pad more) are skipped whole
    rows = cfg.rows_per_pass
    pad_tiles = (-(-M // rows) * rows - M) // cfg.group_size
    blocks = -(-N // cfg.cols)
    assert uniform["counters"]["skipped_vectors"] - blocks * pad_tiles * K < uniform["K"]


@cocotb.test()
async def random_stalls(dut):
    """Random valid/ready gaps on w, lo, ho and y: still bit-exact, counters but cycles equal."""
    host, cfg = await _setup(dut)
    for i, (mode, p) in enumerate((("aqs", 0.3), ("dense", 0.5), ("sibia", 0.15))):
        host.port.set_stalls(p, seed=i)
        job = _skewed_job(cfg, mode, seed=10 + i, **_shape(cfg))
        _, got, problems = await host.run_job(job, check_cycles=False)
        _check([f"{mode} stalls {p}: {p_}" for p_ in problems])
        dut._log.info("%s with stalls %.2f: %d cycles (%d without stalls)", mode, p,
                      got["cycles"], job["counters"]["cycles"])
    host.port.set_stalls(0)


@cocotb.test()
async def malformed_rle(dut):
    """A reserved-kind word in the 2nd block: ERROR/RLE_KIND, ERR_WORD, idle; then a good GEMM."""
    host, cfg = await _setup(dut)
    good = _skewed_job(cfg, "aqs", seed=4, **_shape(cfg))
    words = list(good["ho_words"])
    per_block = len(words) // (len(good["streams"]["w"]) // good["K"])
    index = per_block + per_block // 2
    G, H, R = cfg.group_size, cfg.ho_bits, cfg.rle_run_bits
    words[index] |= formats.RESERVED << (G * H + R)
    bad = dict(good, streams=dict(good["streams"], ho=pack_ho_words(cfg, words, good["schedule"], good["L"])))
    # the golden decoder agrees on where the stream breaks
    i, offset = 0, None
    try:
        while i < len(words):
            _, _, i = formats.rle_decode(cfg, words, good["K"], start=i)
    except formats.RLEError as e:
        offset = e.offset
    assert offset == index, (offset, index)

    await host.start_job(bad)
    st = await host.wait_idle(status_budget(good["counters"]["cycles"]))
    assert st == {"busy": False, "done": False, "error": True,
                  "errcode": ErrorCode.RLE_KIND}, st
    assert dut.irq.value == 1
    assert await host.read(regmap.ERR_WORD) == index
    assert await host.read(regmap.COUNTER_ADDR["rle_words"]) == index + 1
    await ClockCycles(dut.clk, 5)
    assert dut.y__tvalid.value == 0, "output bank not flushed after the error"
    host.port.flush()
    _, _, problems = await host.run_job(good)
    _check(problems)


@cocotb.test()
async def reset_mid_gemm(dut):
    """Reset in the middle of a GEMM (bank full, y stalled), then a good GEMM."""
    host, cfg = await _setup(dut)
    job = _skewed_job(cfg, "sibia", seed=5, **_shape(cfg))
    host.port.sink.pause = True
    await host.start_job(job)
    await ClockCycles(dut.clk, job["K"] + 2 * job["K"] // 3)
    assert dut.busy.value == 1
    host.port.flush()
    host.port.sink.pause = False
    await host.port.reset()
    st = await host.status()
    assert st == {"busy": False, "done": False, "error": False, "errcode": ErrorCode.NONE}, st
    assert await host.read(regmap.COUNTER_ADDR["cycles"]) == 0
    _, _, problems = await host.run_job(job)
    _check(problems)


@cocotb.test()
async def load_overlap(dut):
    """The LOAD overlap (K <= k_max / 2, ``golden_model.timing.load_overlaps``): multi-block
    GEMMs in every mode of the variant, cycle-exact (K = k_max / 2 at the boundary, and a short
    K); with random stalls on every stream (a stalled ``w`` only delays the next block); ABORT
    while the next block's rows are still missing (the core waits for them after the block's
    last pass), then a good GEMM."""
    host, cfg = await _setup(dut)
    half = cfg.k_max // 2
    shapes = [dict(M=cfg.rows_per_pass + 1, K=min(half, 13), N=3 * cfg.cols + 1),
              dict(M=3, K=half, N=2 * cfg.cols)]
    for mode in cfg.modes:
        for i, sh in enumerate(shapes):
            job = _skewed_job(cfg, mode, seed=20 + i, **sh)
            _, _, problems = await host.run_job(job)
            _check([f"{mode} {sh}: {p}" for p in problems])
    for i, mode in enumerate(cfg.modes):
        host.port.set_stalls(0.5, seed=30 + i)
        job = _skewed_job(cfg, mode, seed=30 + i, **shapes[0])
        _, _, problems = await host.run_job(job, check_cycles=False)
        _check([f"{mode} stalls: {p}" for p in problems])
    host.port.set_stalls(0)
    # block 1's rows arrive only in part: block 0 finishes, the core waits for the rest
    job = _skewed_job(cfg, cfg.modes[-1], seed=40, **shapes[0])
    K = job["K"]
    streams = dict(job["streams"], w=job["streams"]["w"][:K + K // 2])
    for n, beats in streams.items():
        if beats:
            host.port.send(n, list(beats))
    await host.program(mode_code=job["mode_code"], r=job["r"], z=job["z"], L=job["L"],
                       M=job["M"], K=K, N=job["N"])
    await host.start()
    await ClockCycles(dut.clk, 4 * job["counters"]["cycles"] // 3)
    st = await host.status()
    assert st["busy"] and not st["error"], st
    await host.abort()
    st = await host.wait_idle(1000)
    assert st == {"busy": False, "done": False, "error": True,
                  "errcode": ErrorCode.ABORTED}, st
    await ClockCycles(dut.clk, 8)
    assert dut.y__tvalid.value == 0, "output bank not flushed after ABORT"
    host.port.flush()
    # ABORT in block 0's first pass, while block 1's rows are being written
    problems = await host.abort_job(job, after=K + 4)
    _check(problems)
    _, _, problems = await host.run_job(job)
    _check(problems)


@cocotb.test()
async def bad_params(dut):
    """Each bad parameter: ERROR/BAD_PARAM at START, no busy cycle; then a good GEMM."""
    host, cfg = await _setup(dut)
    L = cfg.splits[0]
    base = dict(mode_code=regmap.MODE_CODES["aqs"], r=0, z=0, L=L, M=3, K=5, N=2)
    unsupported = next(x for x in range(16) if x not in cfg.splits)
    cases = [dict(mode_code=3), dict(L=unsupported), dict(r=1 << (8 - L)), dict(M=0),
             dict(K=0), dict(N=0), dict(K=cfg.k_max + 1)]
    for case in cases:
        await host.program(**{**base, **case})
        busy0 = host.busy_cycles
        await host.start()
        await ClockCycles(dut.clk, 3)
        st = await host.status()
        assert st == {"busy": False, "done": False, "error": True,
                      "errcode": ErrorCode.BAD_PARAM}, (case, st)
        assert host.busy_cycles == busy0, f"{case}: busy went high"
        assert await host.read(regmap.COUNTER_ADDR["cycles"]) == 0
    job = _skewed_job(cfg, "aqs", seed=6, M=3, K=5, N=2)
    _, _, problems = await host.run_job(job)
    _check(problems)


