# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the INT8 array of the ``dense`` variant (``panacea_hdl.rtl.pea.int8_pea``).

References, both independent of the RTL:

* :class:`Int8PEAModel`, the documented contract in plain integers: an issue in cycle t reads
  its weight row in cycle t and its MAC ``A*W`` is added into the one accumulator per PE at
  the edge ending t + MAC_STAGES (visible in ``y`` from t + MAC_STAGES + 1). A LOAD write /
  ``comp_clear`` in cycle t updates the term ``-z * C`` (``term += -z*w``, restarted by
  ``comp_clear``) at the edge ending t + TERM_LATENCY - 1 and re-initialises every accumulator
  to it at the edge ending t + TERM_LATENCY; ``acc_clear`` does so at the end of its own cycle
  and wins over a landing MAC. All mod 2**32. Compared in EVERY cycle, so a MAC one cycle early
  or late, a wrong sign extension or a missing compensation term fails.
* :func:`golden_model.aqs_gemm.reference_gemm`: whole passes (LOAD K rows, K beats of
  activations) must leave ``y`` equal to ``(A - z) @ W`` for the pass's rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden_model.aqs_gemm import reference_gemm
from golden_model.config import PRESETS
from panacea_hdl.rtl.pea.compensator import TERM_LATENCY
from panacea_hdl.rtl.pea.int8_pea import BeatIssuer, Int8PEA
from panacea_hdl.rtl.lanes import MAC_STAGES
from sim_tests.unit.pea_contract import (AccumulatorContract, assert_traces_equal, simulate_program,
                                         wrap32)
from sim_tests.unit.pea_contract import model_trace as contract_trace

TINY = PRESETS["tiny_dense"]


class Int8PEAModel(AccumulatorContract):
    """Cycle model of the Int8PEA contract (whole integers, ``z`` constant)."""

    def __init__(self, cfg, z):
        super().__init__(cfg)
        self.factor = -z

    def issue(self, c):
        if not c.get("mac_en"):
            return []
        return [np.outer(np.asarray(c["mac_a"], dtype=np.int64), self.wbuf[c["mac_k"]])]


def model_trace(cfg, program, z):
    return contract_trace(Int8PEAModel(cfg, z), program)


def simulate(cfg, program, z):
    """``y`` in every cycle of ``program`` (one dict of inputs per cycle), plus after it."""
    dut = Int8PEA(config=cfg)
    return simulate_program(
        dut, program, fixed=[(dut.z, z)],
        scalars=("w_we", "w_addr", "comp_clear", "mac_en", "mac_k", "acc_clear"),
        arrays={"w_data": (8, cfg.pea_cols), "mac_a": (8, cfg.rows_per_pass)})


def load_program(W, rng, gaps=0.0):
    prog = []
    for k in range(W.shape[0]):
        while rng.random() < gaps:
            prog.append({})
        prog.append(dict(w_we=1, w_addr=k, w_data=[int(x) for x in W[k]], comp_clear=int(k == 0)))
    return prog


@pytest.mark.parametrize("name", ["tiny_dense", "default_dense"])
def test_random_issues_match_the_contract_every_cycle(name):
    """Random loads, issues (with gaps), writes and clears between issues, z; extreme
    operands included."""
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
            if rng.random() < 0.08:         # a write or a lone comp_clear, no issue
                if rng.random() < 0.8:
                    c.update(w_we=1, w_addr=int(rng.integers(K)),
                             w_data=[int(x) for x in rng.integers(-128, 128, cfg.pea_cols)],
                             comp_clear=int(rng.random() < 1 / 3))
                else:
                    c["comp_clear"] = 1
            elif rng.random() < 0.7:
                a = rng.integers(0, 256, cfg.rows_per_pass)
                if trial:
                    a[0] = 255
                c.update(mac_en=1, mac_k=int(rng.integers(K)), mac_a=[int(x) for x in a])
            if rng.random() < 0.05:
                c["acc_clear"] = 1
            prog.append(c)
        prog += [{}] * (MAC_STAGES + 1)
        z = int(rng.integers(0, 256)) if trial == 0 else 255
        assert_traces_equal(simulate(cfg, prog, z), model_trace(cfg, prog, z), f"{name} #{trial}")


def test_issue_latency_term_and_clear_exact_cycles():
    """After a LOAD the accumulators hold the term -z*C; a MAC issued at t is invisible at
    t .. t + MAC_STAGES and visible from t + MAC_STAGES + 1; a MAC landing at the edge of
    an acc_clear is added to the term the accumulators restart from (the pass overlap), one
    landing an edge later is added too."""
    cfg = TINY
    z = 77
    W = np.array([[127, -128], [-3, 99], [50, -60]])
    term = np.tile(-z * W.sum(0), cfg.rows_per_pass)
    a1, a2, a3 = [255, 0, 1, 128], [7, 200, 255, 3], [1, 2, 3, 4]
    prog = load_program(W, np.random.default_rng(0)) + [{}] * TERM_LATENCY
    t = len(prog)
    prog += [dict(mac_en=1, mac_k=2, mac_a=a1)] + [{}] * (MAC_STAGES + 1)
    t2 = len(prog)
    prog += [dict(mac_en=1, mac_k=0, mac_a=a2), dict(mac_en=1, mac_k=1, mac_a=a3)]
    prog += [{}] * (MAC_STAGES - 2) + [dict(acc_clear=1)] + [{}] * 3
    got = simulate(cfg, prog, z)
    mac = lambda a, k: np.outer(a, W[k]).reshape(-1)
    for i in range(t, t + MAC_STAGES + 1):
        assert (got[i] == term).all(), f"cycle t+{i - t}"
    assert (got[t + MAC_STAGES + 1] == term + mac(a1, 2)).all()
    assert (got[t2 + MAC_STAGES] == term + mac(a1, 2)).all()
    assert (got[t2 + MAC_STAGES + 1] == term + mac(a2, 0)).all(), "term + the MAC at the acc_clear edge"
    assert (got[t2 + MAC_STAGES + 2] == term + mac(a2, 0) + mac(a3, 1)).all()
    assert (got[-1] == term + mac(a2, 0) + mac(a3, 1)).all()
    assert_traces_equal(got, model_trace(cfg, prog, z), "exact cycles")


@pytest.mark.slow
def test_accumulator_wraps_mod_2_32():
    """Many 255 x 127 products: the 32-bit accumulator and y wrap like the model (70k cycles;
    a GEMM with K <= k_max never gets there)."""
    cfg = TINY
    W = np.full((1, cfg.pea_cols), 127)
    prog = load_program(W, np.random.default_rng(0))
    prog += [dict(mac_en=1, mac_k=0, mac_a=[255] * cfg.rows_per_pass)] * 70000
    prog += [{}] * MAC_STAGES
    # y after the program only: compare the final value (the trace is long)
    got = simulate(cfg, prog, 0)[-1]
    assert (got == wrap32(np.full(got.shape, 70000 * 255 * 127))).all()
    assert 70000 * 255 * 127 > (1 << 31) - 1      # the test really wraps


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
        prog += [{}] * MAC_STAGES                     # DRAIN: the last MAC completes
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
