# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the INT8 array of the ``dense`` variant (``panacea_hdl.int8_pea``).

References, both independent of the RTL:

* :class:`Int8PEAModel`, the documented contract in plain integers: an issue at t is added at
  the edge ending t+2 (product registered at t+1) and visible in ``y`` from t+3;
  ``y = acc - z * C`` mod 2**32 with the registered term using ``C`` of one cycle earlier.
  Compared
  in EVERY cycle, so a MAC one cycle early or late, a wrong sign extension or a missing
  compensation term fails.
* :func:`golden_model.aqs_gemm.reference_gemm`: whole passes (LOAD K rows, K beats of
  activations) must leave ``y`` equal to ``(A - z) @ W`` for the pass's rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden_model.aqs_gemm import reference_gemm
from golden_model.config import PRESETS
from golden_model.cycle_model import DRAIN_CYCLES
from golden_model.formats import pack_lanes, unpack_lanes
from panacea_hdl.int8_pea import BeatIssuer, Int8PEA

MASK32 = (1 << 32) - 1
TINY = PRESETS["tiny_dense"]


def wrap32(x):
    x = np.asarray(x, dtype=np.int64) & MASK32
    return np.where(x >> 31, x - (1 << 32), x)


class Int8PEAModel:
    """Cycle model of the Int8PEA contract (whole integers)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.wbuf = np.zeros((cfg.k_max, cfg.pea_cols), dtype=np.int64)
        self.acc = np.zeros((cfg.rows_per_pass, cfg.pea_cols), dtype=np.int64)
        self.C = np.zeros(cfg.pea_cols, dtype=np.int64)
        self.C_term = np.zeros(cfg.pea_cols, dtype=np.int64)   # registered term: C of t-1
        self.pending = [None, None]

    def y(self, z):
        return wrap32(self.acc - z * self.C_term[None, :]).reshape(-1)

    def step(self, c):
        issued = None
        if c.get("mac_en"):
            issued = (np.asarray(c["mac_a"], dtype=np.int64), self.wbuf[c["mac_k"]].copy())
        if c.get("acc_clear"):
            self.acc[:] = 0
        elif self.pending[0] is not None:
            a, w = self.pending[0]
            self.acc = wrap32(self.acc + np.outer(a, w))
        self.pending = [self.pending[1], issued]     # issue -> read -> product -> acc
        w_data = np.asarray(c.get("w_data", np.zeros(self.cfg.pea_cols)), dtype=np.int64)
        self.C_term = self.C.copy()
        if c.get("w_we"):
            self.wbuf[c["w_addr"]] = w_data
            self.C = w_data.copy() if c.get("comp_clear") else self.C + w_data
        elif c.get("comp_clear"):
            self.C[:] = 0


def model_trace(cfg, program, z):
    model = Int8PEAModel(cfg)
    out = []
    for c in program:
        out.append(model.y(z))
        model.step(c)
    out.append(model.y(z))
    return np.array(out)


def simulate(cfg, program, z):
    """``y`` in every cycle of ``program`` (one dict of inputs per cycle), plus after it."""
    dut = Int8PEA(config=cfg)
    lanes = cfg.rows_per_pass * cfg.pea_cols
    raw = {n: getattr(dut, n).as_value() for n in ("w_data", "mac_a", "y")}
    trace = []

    async def tb(ctx):
        ctx.set(dut.z, z)
        for c in program:
            ctx.set(dut.w_we, c.get("w_we", 0))
            ctx.set(dut.w_addr, c.get("w_addr", 0))
            ctx.set(raw["w_data"], pack_lanes(c.get("w_data", [0] * cfg.pea_cols), 8))
            ctx.set(dut.comp_clear, c.get("comp_clear", 0))
            ctx.set(dut.mac_en, c.get("mac_en", 0))
            ctx.set(dut.mac_k, c.get("mac_k", 0))
            ctx.set(raw["mac_a"], pack_lanes(c.get("mac_a", [0] * cfg.rows_per_pass), 8))
            ctx.set(dut.acc_clear, c.get("acc_clear", 0))
            trace.append(ctx.get(raw["y"]))
            await ctx.tick()
        trace.append(ctx.get(raw["y"]))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return np.array([unpack_lanes(v, 32, lanes, signed=True) for v in trace])


def load_program(W, rng, gaps=0.0):
    prog = []
    for k in range(W.shape[0]):
        while rng.random() < gaps:
            prog.append({})
        prog.append(dict(w_we=1, w_addr=k, w_data=[int(x) for x in W[k]], comp_clear=int(k == 0)))
    return prog


def assert_traces_equal(got, want, what=""):
    bad = np.argwhere(got != want)
    if bad.size:
        cyc, lane = bad[0]
        raise AssertionError(f"{what}: first mismatch in cycle {cyc}, lane {lane}: got "
                             f"{got[cyc, lane]}, expected {want[cyc, lane]} ({len(bad)} lane-cycles)")


@pytest.mark.parametrize("name", ["tiny_dense", "default_dense"])
def test_random_issues_match_the_contract_every_cycle(name):
    """Random loads, issues (with gaps), clears and z, extreme operands included."""
    cfg = PRESETS[name]
    rng = np.random.default_rng(1 + len(name))
    K = 9
    for trial in range(2):
        W = rng.integers(-127, 128, (K, cfg.pea_cols))
        if trial:
            W[:, 0] = -127                   # largest negative products
        prog = load_program(W, rng, gaps=0.3)
        for _ in range(40):
            c = {}
            if rng.random() < 0.7:
                a = rng.integers(0, 256, cfg.rows_per_pass)
                if trial:
                    a[0] = 255
                c.update(mac_en=1, mac_k=int(rng.integers(K)), mac_a=[int(x) for x in a])
            if rng.random() < 0.05:
                c["acc_clear"] = 1
            prog.append(c)
        prog += [{}, {}]
        z = int(rng.integers(0, 256)) if trial == 0 else 255
        assert_traces_equal(simulate(cfg, prog, z), model_trace(cfg, prog, z), f"{name} #{trial}")


@pytest.mark.slow
def test_accumulator_wraps_mod_2_32():
    """Many 255 x 127 products: the 32-bit accumulator and y wrap like the model (70k cycles;
    a GEMM with K <= k_max never gets there)."""
    cfg = TINY
    W = np.full((1, cfg.pea_cols), 127)
    prog = load_program(W, np.random.default_rng(0))
    prog += [dict(mac_en=1, mac_k=0, mac_a=[255] * cfg.rows_per_pass)] * 70000
    prog += [{}, {}]
    # y after the program only: compare the final value (the trace is long)
    got = simulate(cfg, prog, 0)[-1]
    assert (got == wrap32(np.full(got.shape, 70000 * 255 * 127))).all()
    assert 70000 * 255 * 127 > MASK32 // 2        # the test really wraps


@pytest.mark.parametrize("name", ["tiny_dense", "default_dense"])
def test_golden_passes(name):
    """LOAD K rows, then K beats of whole activations: y == (A - z) @ W for the pass's rows."""
    cfg = PRESETS[name]
    rng = np.random.default_rng(5)
    for K in (1, 7, min(cfg.k_max, 40)):
        A = rng.integers(0, 256, (cfg.rows_per_pass, K)).astype(np.uint8)
        W = rng.integers(-127, 128, (K, cfg.pea_cols)).astype(np.int8)
        z = int(rng.integers(0, 256))
        prog = load_program(W, rng)
        prog += [dict(mac_en=1, mac_k=k, mac_a=[int(x) for x in A[:, k]]) for k in range(K)]
        prog += [{}] * DRAIN_CYCLES                     # DRAIN: the last MAC completes
        y = simulate(cfg, prog, z)[-1].reshape(cfg.rows_per_pass, cfg.pea_cols)
        np.testing.assert_array_equal(y, reference_gemm(A, W, z), err_msg=f"{name} K={K}")


def test_beat_issuer_pass_timing():
    """K beats issued in order with k = 0..K-1 under random lo gaps; pass_done once count == K."""
    cfg = TINY
    dut = BeatIssuer(config=cfg)
    rng = np.random.default_rng(3)
    K = 11
    beats = [int(rng.integers(0, 1 << 32)) for _ in range(K)]     # 4 lanes of 8 bits
    seen = []

    async def tb(ctx):
        ctx.set(dut.k_len, K)
        ctx.set(dut.restart, 1)
        await ctx.tick()
        ctx.set(dut.restart, 0)
        ctx.set(dut.active, 1)
        i, cycles = 0, 0
        while not ctx.get(dut.pass_done):
            valid = i < K and rng.random() < 0.6
            ctx.set(dut.lo.valid, valid)
            ctx.set(dut.lo.payload.as_value(), beats[i] if i < K else 0)
            if valid:
                assert ctx.get(dut.lo.ready)
            if ctx.get(dut.mac_en):
                seen.append((ctx.get(dut.mac_k), ctx.get(dut.mac_a.as_value())))
                i += 1
            await ctx.tick()
            cycles += 1
            assert cycles < 200
        assert not ctx.get(dut.lo.ready), "no beat beyond K"
        ctx.set(dut.restart, 1)
        await ctx.tick()
        assert not ctx.get(dut.pass_done) and ctx.get(dut.lo.ready)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert seen == list(zip(range(K), beats))


def test_rejects_other_variants():
    for name in ("tiny", "tiny_sibia"):
        with pytest.raises(ValueError, match="dense"):
            Int8PEA(config=PRESETS[name])
        with pytest.raises(ValueError, match="dense"):
            BeatIssuer(config=PRESETS[name])
    with pytest.raises(TypeError, match="config"):
        Int8PEA(config="tiny_dense")
