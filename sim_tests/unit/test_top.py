"""Amaranth-simulator tests of the whole core (``panacea_hdl.rtl.top.PanaceaCore``).

The host is the product's one driver (:class:`panacea_hdl.sim.host.CoreHost`) on its
Amaranth-simulator port (:class:`panacea_hdl.sim.amaranth_host.AmaranthPort`: AXI4-Lite, the
w/lo/ho AXI4-Streams with random stalls, ``y``); many GEMMs run in one simulation. Every result is checked bit for bit against the golden model
(:func:`golden_model.aqs_gemm.aqs_gemm`, itself checked against the plain integer reference)
and every counter against :func:`golden_model.cycle_model.predict` (``cycles`` exactly when no
stream stalls). Error cases check STATUS/ERR_WORD against what the register map and
:func:`golden_model.formats.rle_decode` say.
"""

from __future__ import annotations

import gc
import random
import warnings

import numpy as np
import pytest

from golden_model import formats
from golden_model.aqs_gemm import choose_r
from golden_model.config import PRESETS
from golden_model.streams import pack_ho_words
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl import regmap
from panacea_hdl.rtl.axi import RESP_SLVERR
from panacea_hdl.regmap import ErrorCode
from panacea_hdl.rtl.top import PanaceaCore
from panacea_hdl.sim.gemm import make_job
from panacea_hdl.sim.host import STREAMS, stream_lasts
from panacea_hdl.sim.amaranth_host import AmaranthPort, axil_read_ok, axil_write, simulate
from panacea_hdl.sim.host import CoreHost

TINY = PRESETS["tiny"]


async def run_ok(host, job, **kw):
    """Run ``job`` on the shared host driver; fail the test on any difference."""
    _, got, problems = await host.run_job(job, **kw)
    assert not problems, "; ".join(problems)
    return got


def run_main(dut, port, main, cfg):
    simulate(dut, port, cfg, main)


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
@pytest.mark.parametrize("name", ["tiny", "tiny_t3", "tiny_t4"])
def test_random_gemms_exact_cycles(name):
    """Random shapes (M, N off the tile; K up to k_max), modes, L, r, z: Y and every counter
    (also with three and four tiles per pass)."""
    cfg = PRESETS[name]
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=1)
    rng = random.Random(11)
    jobs = [_rand_job(cfg, rng) for _ in range(14)]
    # corner shapes: one row, one column, K = 1, K = k_max, exactly one pass and block
    for (M, K, N) in [(1, 1, 1), (cfg.rows_per_pass, cfg.k_max, cfg.cols), (2, 3, 1)]:
        jobs.append(_rand_job(cfg, rng, M=M, K=K, N=N))

    async def main(host, ctx):
        for job in jobs:
            await run_ok(host, job)

    run_main(dut, port, main, cfg)


def test_host_reports_every_difference():
    """The shared host check is not vacuous: a wrong expected beat, a wrong predicted counter
    and a wrong cycle count are each reported, and a correct job after them is clean."""
    cfg = TINY
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=7)
    rng = random.Random(13)
    good = _rand_job(cfg, rng, K=20)
    bad_y = dict(good, y=[good["y"][0] ^ 1] + good["y"][1:])
    bad_c = dict(good, counters=dict(good["counters"], rle_words=good["counters"]["rle_words"] + 1))
    slow = dict(good, counters=dict(good["counters"], cycles=good["counters"]["cycles"] - 1))

    async def main(host, ctx):
        assert isinstance(host, CoreHost)
        _, _, p = await host.run_job(bad_y)
        assert len(p) == 1 and "y differs" in p[0] and "first differing beats [0]" in p[0], p
        _, _, p = await host.run_job(bad_c)
        assert len(p) == 1 and "'rle_words'" in p[0], p
        _, _, p = await host.run_job(slow)
        assert len(p) == 1 and "'cycles'" in p[0], p
        _, _, p = await host.run_job(slow, check_cycles=False)     # more cycles than predicted
        assert p == [], p
        # with stalls the bound is the job's min_cycles (a stalled pass may chain)
        fast = dict(good, min_cycles=good["counters"]["cycles"] + 1)
        _, _, p = await host.run_job(fast, check_cycles=False)
        assert len(p) == 1 and "'cycles'" in p[0], p
        await run_ok(host, good)

    run_main(dut, port, main, cfg)


def test_all_r_and_uniform_data():
    """All vectors skipped (every HO slice = r) and nearly none skipped (uniform data)."""
    cfg = TINY
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=2)
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

    async def main(host, ctx):
        for job in jobs:
            await run_ok(host, job)

    run_main(dut, port, main, cfg)


def run_with_stalls(cfg, jobs, *, seed=3):
    """Run ``jobs`` with random stalls on every stream (30-90 % by job): Y and the counters
    that do not depend on stalls are checked, cycles are not."""
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=seed)

    async def main(host, ctx):
        for i, job in enumerate(jobs):
            port.set_stalls([0.3, 0.6, 0.1, 0.9][i % 4])
            await run_ok(host, job, check_cycles=False)

    run_main(dut, port, main, cfg)


def test_random_stalls_every_stream():
    rng = random.Random(12)
    run_with_stalls(TINY, [_rand_job(TINY, rng, K=rng.randint(1, 40)) for _ in range(8)])


def test_default_preset_gemm():
    """The default preset (4 PEAs x 8 columns, G = 4): a skewed GEMM in two modes."""
    cfg = PRESETS["default"]
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=4)
    A = skewed_activations(19, 70, seed=9)
    W = random_weights(70, 37, seed=9)
    jobs = [make_job(cfg, A, W, 104, mode=m, L=4, r=choose_r(A, 4)) for m in ("aqs", "dense")]

    async def main(host, ctx):
        for job in jobs:
            await run_ok(host, job)

    run_main(dut, port, main, cfg)


def _mutate(cfg, job, index, kind):
    """Return a copy of ``job`` whose ho word ``index`` is made malformed in way ``kind``."""
    words = list(job["ho_words"])
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
    return _with_words(cfg, job, words)


def _with_words(cfg, job, words):
    """``job`` with its RLE words replaced (same count per pass), repacked into ho beats."""
    return dict(job, ho_words=words,
                streams=dict(job["streams"], ho=pack_ho_words(cfg, words, job["schedule"], job["L"])))


def _golden_error_offset(cfg, job):
    """Index of the first bad word of the GEMM's ho stream per ``rle_decode``, or None."""
    words, K, i = job["ho_words"], job["K"], 0
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
    port = AmaranthPort(dut, seed=5)
    rng = random.Random(21)
    A = skewed_activations(9, 30, seed=3)
    W = random_weights(30, 6, seed=3)
    good = make_job(cfg, A, W, 100, mode="aqs", L=4, r=choose_r(A, 4))
    dense = make_job(cfg, A, W, 100, mode="dense", L=4, r=0)
    n = len(good["ho_words"])
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
    words = list(dense["ho_words"])
    idx = len(words) // 2
    kk, run, data, sl = formats.unpack_rle_word(cfg, words[idx])
    words[idx] = formats.pack_rle_word(cfg, kk, 1, sl if kk == formats.LIT else None)
    cases.append((_with_words(cfg, dense, words), ErrorCode.RLE_DENSE_RUN, idx))
    assert len(cases) >= 5

    async def main(host, ctx):
        for bad, code, off in cases:
            for nm in STREAMS:
                port.send(nm, bad["streams"][nm], stream_lasts(bad, nm))
            await host.program(mode_code=bad["mode_code"], r=bad["r"], z=bad["z"],
                               L=bad["L"], M=bad["M"], K=bad["K"], N=bad["N"])
            await host.start()
            await host.wait_idle()
            st = await host.status()
            assert st == {"busy": False, "done": False, "error": True, "errcode": code}, (st, code)
            assert ctx.get(dut.irq) == 1
            assert await axil_read_ok(ctx, dut.csr, regmap.ERR_WORD) == off
            for _ in range(5):
                await ctx.tick()
            assert not ctx.get(dut.y.tvalid), "the bank must be flushed on error"
            port.flush()
            await run_ok(host, good)

    run_main(dut, port, main, cfg)


def _golden_decode_all(cfg, job):
    words, K, i = job["ho_words"], job["K"], 0
    while i < len(words):
        for _ in range(2):
            _, _, i = formats.rle_decode(cfg, words, K, start=i)


def test_bad_params_abort_and_busy_rules():
    cfg = TINY
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=6)
    A = skewed_activations(6, 20, seed=4)
    W = random_weights(20, 5, seed=4)
    good = make_job(cfg, A, W, 90, mode="aqs", L=4, r=choose_r(A, 4))
    base = dict(mode_code=2, r=3, z=0, L=4, M=5, K=9, N=3)
    bad_sets = [dict(mode_code=3), dict(L=2), dict(L=6), dict(L=0), dict(r=16),
                dict(L=5, r=8), dict(M=0), dict(K=0), dict(N=0), dict(K=cfg.k_max + 1)]

    async def main(host, ctx):
        # every bad parameter: ERROR BAD_PARAM, no busy cycle, counters cleared
        await run_ok(host, good)
        for bad in bad_sets:
            await host.program(**{**base, **bad})
            b0 = port.busy_cycles
            await host.start()
            for _ in range(4):
                await ctx.tick()
            assert port.busy_cycles == b0, bad
            st = await host.status()
            assert st == {"busy": False, "done": False, "error": True,
                          "errcode": ErrorCode.BAD_PARAM}, (bad, st)
            assert all(v == 0 for v in (await host.counters()).values())
        # r = 2**(8-L) - 1 is fine in aqs, and any r is fine outside aqs
        for ok in (dict(L=5, r=7), dict(mode_code=1, r=200), dict(K=cfg.k_max)):
            await host.program(**{**base, **ok})
            await host.start()
            await ctx.tick()
            assert ctx.get(dut.busy), ok
            await host.abort()
            st = await host.status()
            assert st == {"busy": False, "done": False, "error": True,
                          "errcode": ErrorCode.ABORTED}, st
        # abort in the middle of a pass (stalled y keeps the bank full), then a good GEMM
        for nm in STREAMS:
            port.send(nm, good["streams"][nm], stream_lasts(good, nm))
        port.stall["y"] = 1.0
        await host.program(mode_code=good["mode_code"], r=good["r"], z=good["z"],
                           L=good["L"], M=good["M"], K=good["K"], N=good["N"])
        await host.start()
        for _ in range(60):
            await ctx.tick()
        assert ctx.get(dut.busy)
        # parameter writes while busy are refused; START while busy is ignored
        assert await axil_write(ctx, dut.csr, regmap.DIM_M, 77) == RESP_SLVERR
        assert await axil_read_ok(ctx, dut.csr, regmap.DIM_M) == good["M"]
        await host.start()
        assert (await host.status())["busy"]
        await host.abort()
        st = await host.status()
        assert st == {"busy": False, "done": False, "error": True,
                      "errcode": ErrorCode.ABORTED}, st
        port.set_stalls(0.0)
        for _ in range(3):
            await ctx.tick()
        assert not ctx.get(dut.y.tvalid)
        port.flush()
        # ABORT while idle is ignored
        await host.abort()
        assert (await host.status())["errcode"] == ErrorCode.ABORTED
        await run_ok(host, good)
        await host.abort()
        assert await host.status() == {"busy": False, "done": True, "error": False,
                                          "errcode": ErrorCode.NONE}

        # START while busy does not restart or disturb a GEMM
        async def poke():
            for _ in range(30):
                await ctx.tick()
            await host.start()
        await run_ok(host, good, during=poke)

    run_main(dut, port, main, cfg)


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
    port = AmaranthPort(dut, seed=100)
    rng = random.Random(101)
    jobs = [_rand_job(cfg, rng, K=rng.randint(1, min(cfg.k_max, 90)))
            for _ in range(60 if preset == "tiny" else 12)]

    async def main(host, ctx):
        for i, job in enumerate(jobs):
            stalls = i % 2 == 1
            port.set_stalls(rng.choice([0.1, 0.4, 0.8]) if stalls else 0.0)
            await run_ok(host, job, check_cycles=not stalls)

    run_main(dut, port, main, cfg)


def test_truncated_packed_streams_never_hang():
    """Packed lo / ho streams cut short. The host frames each pass (TLAST on its last beat,
    docs/formats.md); a host whose beats run out ends its last frame early.

    * The last beat missing: the last pass's frame ends a beat early, so the core ends the GEMM
      with ERROR/LO_TRUNCATED or HO_TRUNCATED and ERR_WORD = the first missing item, derived
      here from the frame sizes: the items of the earlier passes plus the whole items of the
      kept beats (floor(kept beats x bus bits / item bits)).
    * A beat missing inside the first pass: every later frame shifts by one beat; lo data
      misalign silently (the error is again the last pass's truncation), RLE words misalign
      into an RLE error or the truncation.
    * The last beat missing and no TLAST (a host that just stops): a stall, BUSY until ABORT.

    After each, a good GEMM runs exactly (bit- and cycle-exact): the unpackers' leftover and
    their error are dropped at START."""
    cfg = TINY
    dut = PanaceaCore(config=cfg)
    port = AmaranthPort(dut, seed=8)
    A = skewed_activations(7, 29, seed=6)
    W = random_weights(29, 5, seed=6)
    L = 3
    good = make_job(cfg, A, W, 100, mode="aqs", L=L, r=choose_r(A, L))
    K = good["K"]
    frames = good["frames"]
    assert len(frames["lo"]) == 4 and all(n > 1 for n in frames["lo"] + frames["ho"])  # 2 blocks x 2 passes
    lo_bus, lo_item = formats.lo_bus_bits(cfg), formats.lo_vector_bits(cfg, L)
    ho_bus, ho_item = formats.ho_bus_bits(cfg), formats.rle_word_bits(cfg)
    ho_words_sent = [s["ho_words"] for sched in good["schedule"] for s in sched]
    # the first missing item when the last beat is dropped (by hand, from the frames)
    lo_missing = (len(frames["lo"]) - 1) * K + (frames["lo"][-1] - 1) * lo_bus // lo_item
    ho_missing = sum(ho_words_sent[:-1]) + (frames["ho"][-1] - 1) * ho_bus // ho_item
    assert (frames["lo"][-1] - 1) * lo_bus // lo_item < K
    assert (frames["ho"][-1] - 1) * ho_bus // ho_item < ho_words_sent[-1]

    def cut(nm, drop):
        beats = good["streams"][nm]
        return dict(good, streams=dict(good["streams"], **{nm: beats[:drop] + beats[drop + 1:]}))

    rle_codes = set(regmap.RLE_ERROR_CODES.values()) | {ErrorCode.RLE_DENSE_RUN}
    cases = [  # (job, stream, lasts of that stream or None, expected codes, expected ERR_WORD)
        (cut("lo", len(good["streams"]["lo"]) - 1), "lo", None, {ErrorCode.LO_TRUNCATED}, lo_missing),
        (cut("ho", len(good["streams"]["ho"]) - 1), "ho", None, {ErrorCode.HO_TRUNCATED}, ho_missing),
        (cut("lo", frames["lo"][0] // 2), "lo", None, {ErrorCode.LO_TRUNCATED}, lo_missing),
        (cut("ho", frames["ho"][0] // 2), "ho", None, rle_codes | {ErrorCode.HO_TRUNCATED}, None),
    ]
    for nm in ("lo", "ho"):   # no TLAST after the last beat kept: a stall
        bad = cut(nm, len(good["streams"][nm]) - 1)
        cases.append((bad, nm, stream_lasts(good, nm)[:-1], {ErrorCode.ABORTED}, None))

    async def main(host, ctx):
        for bad, nm, lasts, codes, err_word in cases:
            for s in STREAMS:
                if bad["streams"][s]:
                    port.send(s, bad["streams"][s],
                              lasts if s == nm and lasts is not None else stream_lasts(bad, s))
            await host.program(mode_code=bad["mode_code"], r=bad["r"], z=bad["z"], L=bad["L"],
                               M=bad["M"], K=bad["K"], N=bad["N"])
            await host.start()
            if ErrorCode.ABORTED in codes:        # a stall: still busy long after the GEMM's time
                for _ in range(3 * good["counters"]["cycles"]):
                    await ctx.tick()
                assert (await host.status())["busy"], nm
                await host.abort()
                st = await host.status()
            else:
                st = await host.wait_idle(3 * good["counters"]["cycles"])
            assert not st["busy"] and not st["done"] and st["error"], (nm, st)
            assert st["errcode"] in codes, (nm, st, codes)
            word = await axil_read_ok(ctx, dut.csr, regmap.ERR_WORD)
            if err_word is not None:
                assert word == err_word, (nm, word, err_word)
            elif st["errcode"] != ErrorCode.ABORTED:
                assert word < sum(ho_words_sent), (nm, word)
            for _ in range(5):
                await ctx.tick()
            port.flush()
            await run_ok(host, good)

    run_main(dut, port, main, cfg)
