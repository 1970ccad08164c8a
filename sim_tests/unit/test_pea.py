# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the PEA (weight buffer, SWO, DWO, compensator, accumulators).

Two independent references:

* :class:`PEAModel`, a cycle model of the PEA's *contract* written with plain integer
  arithmetic on whole weights (no slicing): issue at t, product registered at the edge ending
  t+1, MAC at the edge ending t+2, visible in ``y`` from t+3; the compensation term is registered, so it uses the column sums ``C`` of
  one cycle earlier (a LOAD write at t is in ``C`` from t+1 and in ``y`` from t+2). The simulated ``y`` is compared with it in EVERY cycle, so an update one
  cycle early or late fails.
* ``golden_model.aqs_gemm.aqs_gemm`` (and ``reference_gemm``): full GEMM passes are driven by
  issuing exactly the non-skipped vectors of a ``slice_plan``; ``y`` at HANDOFF must equal the
  golden result.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden_model.aqs_gemm import aqs_gemm, reference_gemm, skip_value
from golden_model.config import ConfigError, PRESETS, PanaceaConfig
from golden_model.cycle_model import DRAIN_CYCLES
from golden_model.formats import pack_lanes, unpack_lanes
from golden_model.slicing import join_activation
from panacea_hdl.pea import PEA

MASK32 = (1 << 32) - 1

# ---------------------------------------------------------------------------------------
# independent model of the contract
# ---------------------------------------------------------------------------------------


def wrap32(x):
    x = np.asarray(x, dtype=np.int64) & MASK32
    return np.where(x >> 31, x - (1 << 32), x)


class PEAModel:
    """Cycle-level model of the PEA's documented behaviour, with whole-weight arithmetic."""

    def __init__(self, cfg: PanaceaConfig):
        self.cfg = cfg
        self.rows, self.cols, self.G = cfg.rows_per_pass, cfg.pea_cols, cfg.group_size
        self.wbuf = np.zeros((cfg.k_max, self.cols), dtype=np.int64)
        self.accL = np.zeros((self.rows, self.cols), dtype=np.int64)
        self.accH = np.zeros((self.rows, self.cols), dtype=np.int64)
        self.C = np.zeros(self.cols, dtype=np.int64)
        self.C_term = np.zeros(self.cols, dtype=np.int64)   # the registered term's C (t-1)
        self.pending = [[], []]

    def y(self, s, z, L):
        return wrap32((self.accH << L) + self.accL
                      + ((s << L) - z) * self.C_term[None, :]).reshape(-1)

    def step(self, c: dict, s: int):
        """Advance over one clock edge with the inputs ``c`` of the cycle ending there."""
        issued = []
        if c.get("swo_en"):
            issued.append(("L", np.asarray(c["swo_al"], dtype=np.int64), None,
                           self.wbuf[c["swo_k"]].copy()))
        if c.get("dwo_en"):
            issued.append(("H", np.asarray(c["dwo_ah"], dtype=np.int64) - s, c["dwo_tile"],
                           self.wbuf[c["dwo_k"]].copy()))
        if c.get("acc_clear"):
            self.accL[:] = 0
            self.accH[:] = 0
        else:
            for kind, act, tile, w in self.pending[0]:
                if kind == "L":
                    self.accL += np.outer(act, w)
                else:
                    self.accH[tile * self.G:(tile + 1) * self.G] += np.outer(act, w)
        self.pending = [self.pending[1], issued]     # issue -> read -> product -> acc
        w_data = np.asarray(c.get("w_data", np.zeros(self.cols)), dtype=np.int64)
        self.C_term = self.C.copy()
        if c.get("w_we"):
            self.wbuf[c["w_addr"]] = w_data
            self.C = w_data.copy() if c.get("comp_clear") else self.C + w_data
        elif c.get("comp_clear"):
            self.C[:] = 0


def model_trace(cfg, program, s, z, L):
    model = PEAModel(cfg)
    out = []
    for c in program:
        out.append(model.y(s, z, L))
        model.step(c, s)
    out.append(model.y(s, z, L))
    return np.array(out)


# ---------------------------------------------------------------------------------------
# simulation harness
# ---------------------------------------------------------------------------------------


def simulate_pea(cfg, program, s, z, L, dut=None):
    """Run ``program`` (one dict of inputs per cycle) and return ``y`` of every cycle.

    Row i of the result is ``y`` during cycle i (with cycle i's inputs applied); one extra row
    is ``y`` after the last cycle.
    """
    dut = dut or PEA(config=cfg)
    lanes = cfg.rows_per_pass * cfg.pea_cols
    zeros_w, zeros_al, zeros_ah = [0] * cfg.pea_cols, [0] * cfg.rows_per_pass, [0] * cfg.group_size
    trace = []
    raw = {n: getattr(dut, n).as_value() for n in ("w_data", "swo_al", "dwo_ah", "y")}

    async def tb(ctx):
        ctx.set(dut.s, s)
        ctx.set(dut.z, z)
        ctx.set(dut.split, L)
        for c in program:
            ctx.set(dut.w_we, c.get("w_we", 0))
            ctx.set(dut.w_addr, c.get("w_addr", 0))
            ctx.set(raw["w_data"], pack_lanes(c.get("w_data", zeros_w), 8))
            ctx.set(dut.comp_clear, c.get("comp_clear", 0))
            ctx.set(dut.swo_en, c.get("swo_en", 0))
            ctx.set(dut.swo_k, c.get("swo_k", 0))
            ctx.set(raw["swo_al"], pack_lanes(c.get("swo_al", zeros_al), cfg.lo_bits))
            ctx.set(dut.dwo_en, c.get("dwo_en", 0))
            ctx.set(dut.dwo_k, c.get("dwo_k", 0))
            ctx.set(dut.dwo_tile, c.get("dwo_tile", 0))
            ctx.set(raw["dwo_ah"], pack_lanes(c.get("dwo_ah", zeros_ah), cfg.ho_bits))
            ctx.set(dut.acc_clear, c.get("acc_clear", 0))
            trace.append(ctx.get(raw["y"]))
            await ctx.tick()
        trace.append(ctx.get(raw["y"]))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return np.array([unpack_lanes(v, 32, lanes, signed=True) for v in trace])


def assert_traces_equal(got, want, what=""):
    assert got.shape == want.shape
    bad = np.argwhere(got != want)
    if bad.size:
        cyc, lane = bad[0]
        raise AssertionError(f"{what}: first mismatch in cycle {cyc}, lane {lane}: "
                             f"got {got[cyc, lane]}, expected {want[cyc, lane]} "
                             f"({len(bad)} mismatching lane-cycles)")


# ---------------------------------------------------------------------------------------
# random programs
# ---------------------------------------------------------------------------------------


def load_program(cfg, W, rng, gaps=0.0, order=None):
    prog = []
    order = range(W.shape[0]) if order is None else order
    first = True
    for k in order:
        while rng.random() < gaps:
            prog.append({})
        prog.append(dict(w_we=1, w_addr=int(k), w_data=W[k].tolist(), comp_clear=int(first)))
        first = False
    return prog


def random_pass_program(cfg, K, n, rng, *, p_swo=0.6, p_dwo=0.6, p_clear=0.03,
                        al_max=None, ah_max=None):
    al_max = (1 << cfg.lo_bits) - 1 if al_max is None else al_max
    ah_max = (1 << cfg.ho_bits) - 1 if ah_max is None else ah_max
    prog = []
    for _ in range(n):
        c = {}
        if rng.random() < p_swo:
            c.update(swo_en=1, swo_k=int(rng.integers(K)),
                     swo_al=rng.integers(0, al_max + 1, cfg.rows_per_pass).tolist())
        if rng.random() < p_dwo:
            c.update(dwo_en=1, dwo_k=int(rng.integers(K)), dwo_tile=int(rng.integers(2)),
                     dwo_ah=rng.integers(0, ah_max + 1, cfg.group_size).tolist())
        if rng.random() < p_clear:
            c["acc_clear"] = 1
        prog.append(c)
    return prog


def random_weights(rng, K, cols):
    return rng.integers(-127, 128, (K, cols))


# ---------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------

CASES = [(name, L, kind) for name in ("tiny", "default") for L in PRESETS[name].splits
         for kind in ("dense", "sibia", "aqs")]


@pytest.mark.parametrize("name,L,mode", CASES)
def test_random_sequences_match_contract(name, L, mode):
    """Random LOAD / SWO / DWO / clear sequences (gaps, same-cycle issues, both tiles, reload)."""
    cfg = PRESETS[name]
    rng = np.random.default_rng(zlib.crc32(f"{name}/{L}/{mode}".encode()))
    K = int(rng.integers(1, min(cfg.k_max, 24) + 1))
    r = int(rng.integers(1, 1 << (8 - L)))
    s = r if mode == "aqs" else 0
    z = int(rng.integers(0, 256))
    prog = load_program(cfg, random_weights(rng, K, cfg.pea_cols), rng, gaps=0.2,
                        order=rng.permutation(K))
    prog += random_pass_program(cfg, K, 60, rng)
    # second block: reload fewer rows (comp_clear with the first), another pass
    K2 = int(rng.integers(1, K + 1))
    prog += [dict(acc_clear=1)] + load_program(cfg, random_weights(rng, K2, cfg.pea_cols), rng)
    prog += random_pass_program(cfg, K2, 40, rng, p_swo=0.9, p_dwo=0.3) + [{}, {}]
    got = simulate_pea(cfg, prog, s, z, L)
    want = model_trace(cfg, prog, s, z, L)
    assert_traces_equal(got, want, f"{name} L={L} s={s} z={z}")
    assert np.abs(want).max() > 0


def test_timing_contract_exact_cycle():
    """One SWO and one DWO issue at cycle t: y unchanged at t .. t+2, updated at t+3."""
    cfg = PRESETS["tiny"]
    L, s, z = 4, 3, 0
    W = np.array([[5, -7], [100, -127]])
    prog = load_program(cfg, W, np.random.default_rng(0))
    t = len(prog) + 2
    prog += [{}, {}]
    prog.append(dict(swo_en=1, swo_k=1, swo_al=[1, 2, 3, 4], dwo_en=1, dwo_k=0, dwo_tile=1,
                     dwo_ah=[4, 5]))
    prog += [{}, {}, {}, {}]
    got = simulate_pea(cfg, prog, s, z, L)
    rows, cols = cfg.rows_per_pass, cfg.pea_cols
    C = W.sum(0)
    base = np.tile(((s << L) - z) * C, rows)
    assert (got[t] == base).all() and (got[t + 1] == base).all() and (got[t + 2] == base).all()
    accL = np.outer([1, 2, 3, 4], W[1])
    accH = np.zeros((rows, cols), dtype=np.int64)
    accH[2:4] = np.outer(np.array([4, 5]) - s, W[0])
    expect = ((accH << L) + accL).reshape(-1) + base
    assert (got[t + 3] == expect).all() and (got[-1] == expect).all()


def test_acc_clear_and_comp_clear_semantics():
    """acc_clear clears at the end of its cycle; comp_clear alone zeroes C; with w_we C = w.

    The term follows C one cycle later (registered).
    """
    cfg = PRESETS["tiny"]
    L, s, z = 3, 0, 1
    W = np.array([[3, 4], [-5, 6]])
    prog = load_program(cfg, W, np.random.default_rng(0))
    prog += [dict(swo_en=1, swo_k=0, swo_al=[1, 1, 1, 1]), {}, {}]
    i_clear = len(prog)
    prog += [dict(acc_clear=1), {}]
    i_cc = len(prog)
    prog += [dict(comp_clear=1), {}]
    i_load = len(prog)
    prog += [dict(w_we=1, w_addr=0, w_data=[7, -8], comp_clear=1), {}]
    got = simulate_pea(cfg, prog, s, z, L)
    # before the clear: accL = W[0] in every row, C = W.sum(0)
    C = W.sum(0)
    assert (got[i_clear] == np.tile(W[0] - z * C, 4)).all()
    assert (got[i_clear + 1] == np.tile(-z * C, 4)).all()
    # the compensation term is registered: C changes at the edge ending the clear / write
    # cycle, the term one edge later
    assert (got[i_cc + 1] == np.tile(-z * C, 4)).all()
    assert (got[i_cc + 2] == 0).all()
    assert (got[i_load + 1] == 0).all()
    assert (got[i_load + 2] == np.tile(-z * np.array([7, -8]), 4)).all()


EXTREME_CASES = [("tiny", L, s_kind, w_kind) for L in (3, 5) for s_kind in ("zero", "max")
                 for w_kind in ("+127", "-127", "mixed")]


@pytest.mark.parametrize("name,L,s_kind,w_kind", EXTREME_CASES)
def test_extremes_full_buffer(name, L, s_kind, w_kind):
    """K = k_max, W = +-127, AL and AH at their maximum codes, s = 0 or max, z = 0 / 255."""
    cfg = PRESETS[name]
    K = cfg.k_max
    rng = np.random.default_rng(K + L)
    if w_kind == "mixed":
        W = rng.choice([-127, 127], (K, cfg.pea_cols))
    else:
        W = np.full((K, cfg.pea_cols), int(w_kind))
    s = 0 if s_kind == "zero" else (1 << cfg.ho_bits) - 1
    z = 255 if s_kind == "zero" else 0
    al = [(1 << cfg.lo_bits) - 1] * cfg.rows_per_pass
    ah = [(1 << cfg.ho_bits) - 1] * cfg.group_size
    prog = load_program(cfg, W, rng)
    for k in range(K):   # every row, both operators every cycle, alternating tiles
        prog.append(dict(swo_en=1, swo_k=k, swo_al=al, dwo_en=1, dwo_k=K - 1 - k,
                         dwo_tile=k & 1, dwo_ah=[0] * cfg.group_size if k % 3 == 0 else ah))
    prog += [{}, {}]
    got = simulate_pea(cfg, prog, s, z, L)
    want = model_trace(cfg, prog, s, z, L)
    assert_traces_equal(got, want, f"extremes L={L} s={s} W={w_kind}")


def skewed_activations(cfg, M, K, L, r, rng):
    """Activations whose tile vectors are often all-r or all-zero (so modes skip)."""
    G = cfg.group_size
    hmax = (1 << (8 - L)) - 1
    Mp = -(-M // G) * G
    AH = rng.integers(0, hmax + 1, (Mp, K))
    for t in range(Mp // G):
        kind = rng.choice(3, K, p=[0.4, 0.25, 0.35])
        AH[t * G:(t + 1) * G, kind == 0] = r
        AH[t * G:(t + 1) * G, kind == 1] = 0
    AL = rng.integers(0, 1 << L, (Mp, K))
    return ((AH << L) | AL)[:M].astype(np.uint8)


def gemm_program(cfg, plan, W, rng, gaps):
    """LOAD the block, then per pass: SWO beats and the non-skipped DWO vectors, DRAIN,
    HANDOFF (acc_clear). Returns the program and the HANDOFF cycle of each pass."""
    G, rows = cfg.group_size, cfg.rows_per_pass
    K = W.shape[0]
    prog = load_program(cfg, W, rng, gaps=gaps)
    handoffs = []
    for p in range(plan.AH.shape[0] // rows):
        swo_q = [dict(swo_en=1, swo_k=k, swo_al=plan.AL[p * rows:(p + 1) * rows, k].tolist())
                 for k in range(K)]
        dwo_q = [dict(dwo_en=1, dwo_k=k, dwo_tile=t,
                      dwo_ah=plan.AH[p * rows + t * G:p * rows + (t + 1) * G, k].tolist())
                 for t in (0, 1) for k in range(K) if not plan.vec_skip[2 * p + t, k]]
        swo_q.reverse(), dwo_q.reverse()
        while swo_q or dwo_q:
            c = {}
            if swo_q and rng.random() >= gaps:
                c.update(swo_q.pop())
            if dwo_q and rng.random() >= gaps:
                c.update(dwo_q.pop())
            prog.append(c)
        prog += [{}] * DRAIN_CYCLES           # DRAIN
        handoffs.append(len(prog))
        prog.append(dict(acc_clear=1))       # HANDOFF
    return prog, handoffs


GOLDEN_CASES = [(name, L, mode) for name in ("tiny", "default") for L in PRESETS[name].splits
                for mode in ("dense", "sibia", "aqs")]


@pytest.mark.parametrize("name,L,mode", GOLDEN_CASES)
def test_passes_match_golden_aqs_gemm(name, L, mode):
    """Whole passes (M not a multiple of the pass, two column blocks) equal aqs_gemm."""
    cfg = PRESETS[name]
    rng = np.random.default_rng(zlib.crc32(f"golden/{name}/{L}/{mode}".encode()))
    rows, cols = cfg.rows_per_pass, cfg.pea_cols
    M = 2 * rows - 1
    K = 37 if name == "default" else 29
    r = int(rng.integers(1, 1 << (8 - L)))
    z = int(rng.integers(0, 256))
    A = skewed_activations(cfg, M, K, L, r, rng)
    W = rng.integers(-127, 128, (K, 2 * cols)).astype(np.int8)
    Y, plan = aqs_gemm(A, W, z, mode=mode, L=L, r=r, cfg=cfg)
    assert (Y == reference_gemm(A, W, z)).all()
    if mode != "dense":
        assert plan.vec_skip.any() and not plan.vec_skip.all()
    # padded rows are computed too: their reference is the plain GEMM of the padded activations
    Y_full = reference_gemm(join_activation(plan.AH, plan.AL, L), W, z)
    s = skip_value(mode, r)
    dut = PEA(config=cfg)
    for b in range(2):                      # one PEA = one column block at a time
        Wb = W[:, b * cols:(b + 1) * cols].astype(np.int64)
        prog, handoffs = gemm_program(cfg, plan, Wb, rng, gaps=0.25 if b else 0.0)
        got = simulate_pea(cfg, prog, s, z, L, dut=dut)
        for p, h in enumerate(handoffs):
            y = got[h].reshape(rows, cols)
            assert (y == Y_full[p * rows:(p + 1) * rows, b * cols:(b + 1) * cols]).all(), \
                f"pass {p} block {b}"
            valid = min(rows, M - p * rows)
            assert (y[:valid] == Y[p * rows:p * rows + valid, b * cols:(b + 1) * cols]).all()
        # the model agrees cycle by cycle too
        assert_traces_equal(got, model_trace(cfg, prog, s, z, L), f"block {b}")


# ---------------------------------------------------------------------------------------
# construction errors
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["tiny", None, 3, {"group_size": 2}])
def test_rejects_non_config(bad):
    with pytest.raises(TypeError, match="config"):
        PEA(config=bad)


def test_config_keyword_only():
    with pytest.raises(TypeError):
        PEA(PRESETS["tiny"])


def test_bad_config_raises_config_error():
    with pytest.raises(ConfigError, match="group_size"):
        PEA(config=PanaceaConfig(name="bad", group_size=0))
    with pytest.raises(ConfigError, match="split"):
        PEA(config=PRESETS["tiny"].replace(splits=(1, 4)))


def test_config_property_read_only():
    pea = PEA(config=PRESETS["tiny"])
    assert pea.config is PRESETS["tiny"]
    with pytest.raises(AttributeError):
        pea.config = PRESETS["default"]
