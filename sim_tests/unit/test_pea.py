# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the PEA (weight buffer, SWO, DWO, compensator, accumulators).

Two independent references:

* :class:`PEAModel`, a cycle model of the PEA's *contract* written with plain integer
  arithmetic on whole weights (no slicing, no pipeline registers of its own): an issue in
  cycle t reads its weight row in cycle t and its MAC (``AL*W``, or ``((AH - s)*W) << L`` on
  the rows of its tile) is added into the one accumulator per PE at the edge ending
  t + MAC_STAGES, so ``y`` (the accumulators) shows it from t + MAC_STAGES + 1
  (``panacea_hdl.rtl.lanes.MAC_STAGES``: the PEA's part of the top level's DRAIN_CYCLES). A LOAD
  write / ``comp_clear`` in cycle t updates the compensation term at the edge ending
  t + TERM_LATENCY - 1 (``term <- factor*w`` or 0 on a clear, else ``term += factor*w``,
  ``factor = (s << L) - z``, mod 2**32) and re-initialises every accumulator to the term at
  the edge ending t + TERM_LATENCY; ``acc_clear`` does so at the end of its own cycle. An
  initialisation keeps a MAC landing at the same edge: term + MAC (the pass overlap). The simulated
  ``y`` is compared with it in EVERY cycle, so an update one cycle early or late fails.
* ``golden_model.aqs_gemm.aqs_gemm`` (and ``reference_gemm``): full GEMM passes are driven by
  issuing exactly the non-skipped vectors of a ``slice_plan``; ``y`` at HANDOFF must equal the
  golden result.
"""

from __future__ import annotations

import zlib
import numpy as np
import pytest

from golden_model.aqs_gemm import aqs_gemm, reference_gemm, skip_value
from golden_model.config import ConfigError, PRESETS, PanaceaConfig
from golden_model.cycle_model import DRAIN_CYCLES
from golden_model.slicing import join_activation
from panacea_hdl.rtl.pea.compensator import TERM_LATENCY
from panacea_hdl.rtl.lanes import MAC_STAGES
from panacea_hdl.rtl.pea.pea import PEA
from sim_tests.unit.pea_contract import AccumulatorContract, assert_traces_equal, simulate_program
from sim_tests.unit.pea_contract import model_trace as contract_trace

# ---------------------------------------------------------------------------------------
# independent model of the contract (the accumulator / term part: pea_contract.py)
# ---------------------------------------------------------------------------------------


class PEAModel(AccumulatorContract):
    """Cycle-level model of the PEA's documented behaviour, with whole-weight arithmetic.

    ``s``, ``z`` and ``L`` are constant over a model's life (the documented use: stable from
    before the first LOAD write to the end of the last pass). The ``sibia`` variant has no r
    logic: its skip value is 0 and its factor ``-z``.
    """

    def __init__(self, cfg: PanaceaConfig, s: int, z: int, L: int):
        super().__init__(cfg)
        self.G = cfg.group_size
        self.s = s if cfg.variant == "panacea" else 0
        self.L = L
        self.factor = (self.s << L) - z if cfg.variant == "panacea" else -z

    def issue(self, c: dict) -> list:
        issued = []
        if c.get("swo_en"):
            al = np.asarray(c["swo_al"], dtype=np.int64)
            issued.append(np.outer(al, self.wbuf[c["swo_k"]]))
        if c.get("dwo_en"):
            d = np.asarray(c["dwo_ah"], dtype=np.int64) - self.s
            t = c["dwo_tile"]
            prod = np.zeros((self.rows, self.cols), dtype=np.int64)
            prod[t * self.G:(t + 1) * self.G] = np.outer(d, self.wbuf[c["dwo_k"]]) << self.L
            issued.append(prod)
        return issued


def model_trace(cfg, program, s, z, L):
    """``y`` of the model in every cycle of ``program``, plus after it."""
    return contract_trace(PEAModel(cfg, s, z, L), program)


# ---------------------------------------------------------------------------------------
# simulation harness
# ---------------------------------------------------------------------------------------


def simulate_pea(cfg, program, s, z, L, dut=None):
    """Run ``program`` (one dict of inputs per cycle) and return ``y`` of every cycle.

    Row i of the result is ``y`` during cycle i (with cycle i's inputs applied); one extra row
    is ``y`` after the last cycle.
    """
    dut = dut or PEA(config=cfg)
    fixed = [(dut.z, z), (dut.split, L)]
    if cfg.variant == "panacea":         # the sibia PEA has no s input (skip value 0)
        fixed.append((dut.s, s))
    return simulate_program(
        dut, program, fixed=fixed,
        scalars=("w_we", "w_addr", "comp_clear", "swo_en", "swo_k", "dwo_en", "dwo_k",
                 "dwo_tile", "acc_clear"),
        arrays={"w_data": (8, cfg.pea_cols), "swo_al": (cfg.lo_bits, cfg.rows_per_pass),
                "dwo_ah": (cfg.ho_bits, cfg.group_size)})


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


def random_pass_program(cfg, K, n, rng, *, p_swo=0.6, p_dwo=0.6, p_clear=0.03, p_write=0.0,
                        al_max=None, ah_max=None):
    """``n`` cycles of random SWO / DWO issues on rows < K, ``acc_clear`` pulses and, with
    probability ``p_write``, a LOAD write (a third of them with ``comp_clear``) or a lone
    ``comp_clear`` in a cycle without issues (writes and reads never share a cycle)."""
    al_max = (1 << cfg.lo_bits) - 1 if al_max is None else al_max
    ah_max = (1 << cfg.ho_bits) - 1 if ah_max is None else ah_max
    prog = []
    for _ in range(n):
        c = {}
        if rng.random() < p_write:
            if rng.random() < 0.8:
                c.update(w_we=1, w_addr=int(rng.integers(K)),
                         w_data=random_weights(rng, 1, cfg.pea_cols)[0].tolist(),
                         comp_clear=int(rng.random() < 1 / 3))
            else:
                c["comp_clear"] = 1
        else:
            if rng.random() < p_swo:
                c.update(swo_en=1, swo_k=int(rng.integers(K)),
                         swo_al=rng.integers(0, al_max + 1, cfg.rows_per_pass).tolist())
            if rng.random() < p_dwo:
                c.update(dwo_en=1, dwo_k=int(rng.integers(K)), dwo_tile=int(rng.integers(cfg.tiles_per_pass)),
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

#: three and four tiles per pass: the DWO's tile select is 2 bits wide
TPP_CASES = [("tiny_t3", 4, "aqs"), ("tiny_t3", 3, "dense"), ("tiny_t4", 5, "aqs"),
             ("tiny_t4", 4, "sibia")]
CASES = [(name, L, kind) for name in ("tiny", "default") for L in PRESETS[name].splits
         for kind in ("dense", "sibia", "aqs")] + [("tiny_sibia", 4, "sibia")] + TPP_CASES


@pytest.mark.parametrize("name,L,mode", CASES)
def test_random_sequences_match_contract(name, L, mode):
    """Random LOAD / SWO / DWO / clear sequences (gaps, same-cycle issues, both tiles, reload,
    writes and comp_clear between the issues, so initialisations meet landing MACs)."""
    cfg = PRESETS[name]
    rng = np.random.default_rng(zlib.crc32(f"{name}/{L}/{mode}".encode()))
    K = int(rng.integers(1, min(cfg.k_max, 24) + 1))
    r = int(rng.integers(1, 1 << (8 - L)))
    s = r if mode == "aqs" else 0
    z = int(rng.integers(0, 256))
    prog = load_program(cfg, random_weights(rng, K, cfg.pea_cols), rng, gaps=0.2,
                        order=rng.permutation(K))
    prog += random_pass_program(cfg, K, 60, rng, p_write=0.08)
    # second block: reload fewer rows (comp_clear with the first), another pass
    K2 = int(rng.integers(1, K + 1))
    prog += [dict(acc_clear=1)] + load_program(cfg, random_weights(rng, K2, cfg.pea_cols), rng)
    prog += random_pass_program(cfg, K2, 40, rng, p_swo=0.9, p_dwo=0.3)
    prog += [{}] * (MAC_STAGES + 1)
    got = simulate_pea(cfg, prog, s, z, L)
    want = model_trace(cfg, prog, s, z, L)
    assert_traces_equal(got, want, f"{name} L={L} s={s} z={z}")
    assert np.abs(want).max() > 0


def _issue_after_load(cfg, W, gap):
    """LOAD ``W`` (comp_clear with the first row), then ``gap`` idle cycles."""
    return load_program(cfg, W, np.random.default_rng(0)) + [{}] * gap


def test_timing_contract_exact_cycle():
    """One SWO and one DWO issue at cycle t: y (the term after the LOAD) unchanged at
    t .. t + MAC_STAGES, updated from t + MAC_STAGES + 1."""
    cfg = PRESETS["tiny"]
    L, s, z = 4, 3, 7
    W = np.array([[5, -7], [100, -127]])
    prog = _issue_after_load(cfg, W, TERM_LATENCY)
    t = len(prog)
    prog.append(dict(swo_en=1, swo_k=1, swo_al=[1, 2, 3, 4], dwo_en=1, dwo_k=0, dwo_tile=1,
                     dwo_ah=[4, 5]))
    prog += [{}] * (MAC_STAGES + 2)
    got = simulate_pea(cfg, prog, s, z, L)
    rows = cfg.rows_per_pass
    term = ((s << L) - z) * W.sum(0)          # sum_k ((s << L) - z) * W[k]
    base = np.tile(term, rows)
    assert term.any()
    for i in range(t, t + MAC_STAGES + 1):
        assert (got[i] == base).all(), f"y changed in cycle t+{i - t}"
    mac = np.outer([1, 2, 3, 4], W[1])
    mac[2:4] += np.outer(np.array([4, 5]) - s, W[0]) << L      # tile 1 = rows G..2G-1
    expect = mac.reshape(-1) + base
    assert (got[t + MAC_STAGES + 1] == expect).all() and (got[-1] == expect).all()


def test_top_level_drain_covers_the_pea_pipeline():
    """The top level's DRAIN_CYCLES (the golden cycle model) leave the last MAC of a pass time
    to go down the PEA's MAC_STAGES, and a LOAD time to reach the accumulators before the
    first MAC of a pass can land (TERM_LATENCY <= MAC_STAGES: a MAC issued right after the
    last write lands after the write's initialisation)."""
    assert 1 <= MAC_STAGES <= DRAIN_CYCLES
    assert TERM_LATENCY <= MAC_STAGES


def test_load_write_reinitialises_accumulators_to_term():
    """A LOAD write in cycle t: the accumulators still hold the old value in cycles
    t .. t + TERM_LATENCY and the updated term from t + TERM_LATENCY + 1 on."""
    cfg = PRESETS["tiny"]
    L, s, z = 5, 2, 100
    factor = (s << L) - z
    W = np.array([[3, 4], [-5, 6]])
    prog = _issue_after_load(cfg, W, TERM_LATENCY)
    prog += [dict(swo_en=1, swo_k=0, swo_al=[1, 2, 3, 4])] + [{}] * MAC_STAGES
    t = len(prog)
    prog += [dict(w_we=1, w_addr=1, w_data=[-120, 90])] + [{}] * (TERM_LATENCY + 1)
    got = simulate_pea(cfg, prog, s, z, L)
    before = np.tile(factor * W.sum(0), 4) + np.outer([1, 2, 3, 4], W[0]).reshape(-1)
    after = np.tile(factor * (W.sum(0) + [-120, 90]), 4)
    for i in range(t, t + TERM_LATENCY + 1):
        assert (got[i] == before).all(), f"cycle t+{i - t}"
    assert (got[t + TERM_LATENCY + 1] == after).all() and (got[-1] == after).all()


def test_acc_clear_and_comp_clear_semantics():
    """acc_clear sets the accumulators to the term at the end of its cycle; comp_clear alone
    restarts the term at 0, comp_clear with a write at factor * w (both re-initialise the
    accumulators TERM_LATENCY edges later)."""
    cfg = PRESETS["tiny"]
    L, s, z = 3, 0, 1
    W = np.array([[3, 4], [-5, 6]])
    term = -z * W.sum(0)
    prog = _issue_after_load(cfg, W, TERM_LATENCY)
    prog += [dict(swo_en=1, swo_k=0, swo_al=[1, 1, 1, 1])] + [{}] * MAC_STAGES
    i_clear = len(prog)
    prog += [dict(acc_clear=1), {}]
    i_cc = len(prog)
    prog += [dict(comp_clear=1)] + [{}] * (TERM_LATENCY + 1)
    i_load = len(prog)
    prog += [dict(w_we=1, w_addr=0, w_data=[7, -8], comp_clear=1)] + [{}] * (TERM_LATENCY + 1)
    got = simulate_pea(cfg, prog, s, z, L)
    assert (got[i_clear] == np.tile(W[0] + term, 4)).all()          # the MAC is in
    assert (got[i_clear + 1] == np.tile(term, 4)).all()
    assert (got[i_cc + TERM_LATENCY] == np.tile(term, 4)).all()
    assert (got[i_cc + TERM_LATENCY + 1] == 0).all()
    assert (got[i_load + TERM_LATENCY] == 0).all()
    assert (got[i_load + TERM_LATENCY + 1] == np.tile(-z * np.array([7, -8]), 4)).all()
    assert_traces_equal(got, model_trace(cfg, prog, s, z, L), "clear semantics")


def test_acc_clear_keeps_landing_mac():
    """A MAC landing at the edge of an ``acc_clear`` is added to the term the accumulators
    restart from (the first products of an overlapped pass); one landing an edge later too."""
    cfg = PRESETS["tiny"]
    L, s, z = 4, 1, 9
    W = np.array([[11, -13], [17, 19]])
    prog = _issue_after_load(cfg, W, TERM_LATENCY)
    t = len(prog)
    prog += [dict(swo_en=1, swo_k=0, swo_al=[1, 2, 3, 4]),
             dict(dwo_en=1, dwo_k=1, dwo_tile=0, dwo_ah=[5, 6])]
    prog += [{}] * (MAC_STAGES - 2) + [dict(acc_clear=1)]      # edge ending t+MAC_STAGES
    prog += [{}] * 3
    got = simulate_pea(cfg, prog, s, z, L)
    term = np.tile(((s << L) - z) * W.sum(0), 4)
    dwo = np.zeros((4, 2), dtype=np.int64)
    dwo[0:2] = np.outer(np.array([5, 6]) - s, W[1]) << L
    swo = np.outer(np.array([1, 2, 3, 4]), W[0]).reshape(-1)
    for i in range(t, t + MAC_STAGES + 1):
        assert (got[i] == term).all(), f"cycle t+{i - t}"
    assert (got[t + MAC_STAGES + 1] == term + swo).all(), "SWO MAC kept on top of the term"
    assert (got[t + MAC_STAGES + 2] == term + swo + dwo.reshape(-1)).all()
    assert (got[-1] == term + swo + dwo.reshape(-1)).all()
    assert_traces_equal(got, model_trace(cfg, prog, s, z, L), "acc_clear")


def test_write_between_issues_restarts_from_new_term():
    """SWO issue at t, LOAD write at t+1, DWO issue at t+2: the SWO MAC lands no later than
    the write's initialisation and is lost, the DWO MAC lands after it and is added to the
    updated term."""
    cfg = PRESETS["tiny"]
    L, s, z = 3, 6, 200
    assert TERM_LATENCY <= MAC_STAGES <= TERM_LATENCY + 1    # the edges this test needs
    W = np.array([[-90, 127], [45, -127]])
    prog = _issue_after_load(cfg, W, TERM_LATENCY)
    t = len(prog)
    prog += [dict(swo_en=1, swo_k=0, swo_al=[31, 30, 29, 28]),
             dict(w_we=1, w_addr=2, w_data=[-1, 77]),
             dict(dwo_en=1, dwo_k=1, dwo_tile=1, dwo_ah=[31, 0])]
    prog += [{}] * (MAC_STAGES + 2)
    got = simulate_pea(cfg, prog, s, z, L)
    new_term = np.tile(((s << L) - z) * (W.sum(0) + [-1, 77]), 4)
    dwo = np.zeros((4, 2), dtype=np.int64)
    dwo[2:4] = np.outer(np.array([31, 0]) - s, W[1]) << L
    assert (got[t + 1 + TERM_LATENCY + 1] == new_term).all()
    assert (got[t + 2 + MAC_STAGES + 1] == new_term + dwo.reshape(-1)).all()
    assert (got[-1] == new_term + dwo.reshape(-1)).all()
    assert_traces_equal(got, model_trace(cfg, prog, s, z, L), "write between issues")


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
    prog += [{}] * (MAC_STAGES + 1)
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
    """LOAD the block, then per pass: SWO beats and the non-skipped DWO vectors, DRAIN
    (the PEA's MAC_STAGES cycles),
    HANDOFF (acc_clear). Returns the program and the HANDOFF cycle of each pass."""
    G, rows, T = cfg.group_size, cfg.rows_per_pass, cfg.tiles_per_pass
    K = W.shape[0]
    prog = load_program(cfg, W, rng, gaps=gaps)
    handoffs = []
    for p in range(plan.AH.shape[0] // rows):
        swo_q = [dict(swo_en=1, swo_k=k, swo_al=plan.AL[p * rows:(p + 1) * rows, k].tolist())
                 for k in range(K)]
        dwo_q = [dict(dwo_en=1, dwo_k=k, dwo_tile=t,
                      dwo_ah=plan.AH[p * rows + t * G:p * rows + (t + 1) * G, k].tolist())
                 for t in range(T) for k in range(K) if not plan.vec_skip[T * p + t, k]]
        swo_q.reverse(), dwo_q.reverse()
        while swo_q or dwo_q:
            c = {}
            if swo_q and rng.random() >= gaps:
                c.update(swo_q.pop())
            if dwo_q and rng.random() >= gaps:
                c.update(dwo_q.pop())
            prog.append(c)
        prog += [{}] * MAC_STAGES           # DRAIN
        handoffs.append(len(prog))
        prog.append(dict(acc_clear=1))       # HANDOFF
    return prog, handoffs


GOLDEN_CASES = [(name, L, mode) for name in ("tiny", "default") for L in PRESETS[name].splits
                for mode in ("dense", "sibia", "aqs")] + TPP_CASES


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
