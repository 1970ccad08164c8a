# amaranth: UnusedElaboratable=no
"""Block-level tests of the PEA's parts: layouts, weight digits, weight buffer, compensator,
accumulators; odd PEA shapes against the PEA contract model."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data
from amaranth.sim import Simulator

from golden_model import formats
from golden_model.config import PRESETS, PanaceaConfig
from golden_model.slicing import split_weight
from panacea_hdl.rtl import layouts
from panacea_hdl.rtl.pea.accumulators import Accumulators
from panacea_hdl.rtl.pea.compensator import TERM_LATENCY, Compensator
from panacea_hdl.rtl.lanes import RADIX4_DIGIT, MAC_STAGES, SEL_NEG, SEL_POS, SEL_ZERO, digit_stage
from panacea_hdl.rtl.pea.weight_buffer import WeightBuffer
from sim_tests.unit.pea_contract import wrap32

CONFIGS = list(PRESETS.values()) + [
    PanaceaConfig(name="odd", group_size=3, pea_cols=5, num_peas=3, splits=(2, 6), k_max=100,
                  rle_run_bits=7),
    PanaceaConfig(name="one", group_size=1, pea_cols=1, num_peas=1, splits=(4,), k_max=1,
                  rle_run_bits=1),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name)
def test_layout_widths_match_formats(cfg):
    assert layouts.rle_word_layout(cfg).size == formats.rle_word_bits(cfg)
    assert layouts.lo_beat_layout(cfg).size == formats.lo_beat_bits(cfg)
    assert layouts.w_beat_layout(cfg).size == formats.w_beat_bits(cfg)
    assert layouts.y_beat_layout(cfg).size == formats.y_beat_bits(cfg)
    assert layouts.w_row_layout(cfg).size * cfg.num_peas == formats.w_beat_bits(cfg)
    assert (1 << layouts.k_shape(cfg).width) > cfg.k_max
    # field order = bit order: a packed golden word reads back through the layout's offsets
    rng = np.random.default_rng(cfg.group_size)
    lay = layouts.rle_word_layout(cfg)
    data_ = rng.integers(0, 1 << cfg.ho_bits, cfg.group_size)
    run, kind = int(rng.integers(0, cfg.max_run + 1)), 1
    word = formats.pack_rle_word(cfg, kind, run, data_ if kind == 0 else None)
    f = lay["run"]
    assert (word >> f.offset) & ((1 << f.shape.width) - 1) == run
    f = lay["kind"]
    assert (word >> f.offset) & 3 == kind


def test_layouts_reject_non_config():
    for fn in (layouts.rle_word_layout, layouts.lo_beat_layout, layouts.k_shape):
        with pytest.raises(TypeError, match="config"):
            fn("tiny")


def test_digit_stage_codes_every_int8_weight():
    """digit_stage's registered two-term codes decode, for every int8 weight, to the digits
    of golden_model.slicing.split_weight (WH in [-8, 8], WL in [-8, 7])."""
    w = Signal(data.ArrayLayout(signed(8), 1))
    m = Module()
    [(ch, cl)] = digit_stage(m, w, name="w")
    values = np.arange(-128, 128)
    WH, WL = split_weight(values)
    got = []

    def decode(code):
        def term(sel, k):
            return {SEL_ZERO: 0, SEL_POS: 1, SEL_NEG: -1}[sel] << k
        return 4 * term(code["s1"], code["k1"]) + term(code["s2"], code["k2"])

    async def tb(ctx):
        for v in values.tolist():
            ctx.set(w[0], v)
            await ctx.tick()
            codes = []
            for c in (ch, cl):
                raw = ctx.get(c.as_value())
                codes.append({name: (raw >> field.offset) & ((1 << field.width) - 1)
                              for name, field in RADIX4_DIGIT})
            got.append((decode(codes[0]), decode(codes[1])))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert got == list(zip(WH.tolist(), WL.tolist()))


def test_weight_buffer_two_ports_non_transparent():
    cfg = PRESETS["tiny"]
    dut = WeightBuffer(config=cfg)
    rng = np.random.default_rng(1)
    rows = rng.integers(-128, 128, (cfg.k_max, cfg.pea_cols))
    raw_w, raw_a, raw_b = dut.w_data.as_value(), dut.a_data.as_value(), dut.b_data.as_value()
    unpack = lambda v: formats.unpack_lanes(v, 8, cfg.pea_cols, signed=True).tolist()

    async def tb(ctx):
        for k in range(cfg.k_max):
            ctx.set(dut.w_en, 1)
            ctx.set(dut.w_addr, k)
            ctx.set(raw_w, formats.pack_lanes(rows[k], 8))
            await ctx.tick()
        ctx.set(dut.w_en, 0)
        for _ in range(40):
            ka, kb = (int(x) for x in rng.integers(0, cfg.k_max, 2))
            ea, eb = (int(x) for x in rng.integers(0, 2, 2))
            before_a, before_b = ctx.get(raw_a), ctx.get(raw_b)
            ctx.set(dut.a_en, ea); ctx.set(dut.a_addr, ka)
            ctx.set(dut.b_en, eb); ctx.set(dut.b_addr, kb)
            assert ctx.get(raw_a) == before_a and ctx.get(raw_b) == before_b  # synchronous
            await ctx.tick()
            assert unpack(ctx.get(raw_a)) == (rows[ka].tolist() if ea else unpack(before_a))
            assert unpack(ctx.get(raw_b)) == (rows[kb].tolist() if eb else unpack(before_b))
        # a read in the cycle of a write to the same row returns the old contents
        ctx.set(dut.a_en, 1); ctx.set(dut.a_addr, 5)
        ctx.set(dut.w_en, 1); ctx.set(dut.w_addr, 5); ctx.set(raw_w, formats.pack_lanes([9, -9], 8))
        await ctx.tick()
        assert unpack(ctx.get(raw_a)) == rows[5].tolist()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()


# ---------------------------------------------------------------------------------------
# compensator: term and init
# ---------------------------------------------------------------------------------------


def comp_factor(cfg, s, z, L):
    """``(s << L) - z``, or ``-z`` in the variants without r logic."""
    return (s << L) - z if cfg.variant == "panacea" else -z


def compensator_reference(cfg, ops):
    """``(term, init)`` visible in every cycle 0 .. len(ops), computed from the contract.

    ``ops[t] = (load, clear, w, s, z, L)``: a write or clear in cycle t, with the factor of
    the parameters of cycle t, is in ``term`` from cycle t + TERM_LATENCY, when ``init`` is
    high (the update itself happens at the edge ending t + TERM_LATENCY - 1). Exact Python
    integers, wrapped to 32 bits only when compared.
    """
    cols = cfg.pea_cols
    term = [0] * cols
    terms, inits = [], []
    for n in range(len(ops) + 1):
        t = n - TERM_LATENCY          # the op that becomes visible in cycle n
        init = 0
        if t >= 0:
            load, clear, w, s, z, L = ops[t]
            f = comp_factor(cfg, s, z, L)
            if clear:
                term = [f * int(x) for x in w] if load else [0] * cols
            elif load:
                term = [a + f * int(x) for a, x in zip(term, w)]
            init = int(load or clear)
        terms.append(wrap32(term))
        inits.append(init)
    return np.array(terms), np.array(inits)


def simulate_compensator(cfg, ops, *, check_every=1):
    """Drive ``ops`` (see :func:`compensator_reference`); ``(term, init)`` of every cycle."""
    dut = Compensator(config=cfg)
    raw_w, raw_t = dut.w.as_value(), dut.term.as_value()
    cols = cfg.pea_cols
    terms, inits = [], []

    async def tb(ctx):
        prev = None
        for n, (load, clear, w, s, z, L) in enumerate(ops):
            ctx.set(dut.load, load)
            ctx.set(dut.clear, clear)
            ctx.set(raw_w, formats.pack_lanes(w, 8))
            if (s, z, L) != prev:
                if cfg.variant == "panacea":
                    ctx.set(dut.s, s)
                    ctx.set(dut.split, L)
                ctx.set(dut.z, z)
                prev = (s, z, L)
            if n % check_every == 0:
                terms.append(formats.unpack_lanes(ctx.get(raw_t), 32, cols, signed=True))
                inits.append(ctx.get(dut.init))
            await ctx.tick()
        terms.append(formats.unpack_lanes(ctx.get(raw_t), 32, cols, signed=True))
        inits.append(ctx.get(dut.init))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return np.array(terms), np.array(inits)


def assert_comp_equal(cfg, ops, what, check_every=1):
    got_t, got_i = simulate_compensator(cfg, ops, check_every=check_every)
    want_t, want_i = compensator_reference(cfg, ops)
    idx = list(range(0, len(ops), check_every)) + [len(ops)]
    want_t, want_i = want_t[idx], want_i[idx]
    for name, got, want in (("init", got_i, want_i), ("term", got_t, want_t)):
        bad = np.argwhere(got != want)
        if bad.size:
            n = idx[bad[0][0]]
            raise AssertionError(f"{what}: {name} first wrong in cycle {n}: got "
                                 f"{got[bad[0][0]]}, expected {want[bad[0][0]]}")
    return want_t


@pytest.mark.parametrize("name", ["tiny", "default", "tiny_sibia", "tiny_dense"])
def test_compensator_term_and_init_timing(name):
    """Random writes, clears with and without a write, gaps; s, z and L held for random
    stretches (the factor of a write is that of its own cycle). term and init are compared
    in every cycle, so a write reaching them a cycle early or late fails."""
    cfg = PRESETS[name]
    rng = np.random.default_rng(zlib.crc32(f"comp/{name}".encode()))
    cols = cfg.pea_cols
    ops = []
    s, z, L = 0, 0, cfg.splits[0]
    for step in range(300):
        if step == 0 or rng.random() < 0.05:
            L = int(rng.choice(cfg.splits))
            s = int(rng.integers(0, 1 << cfg.ho_bits))
            z = int(rng.choice([0, 255, int(rng.integers(0, 256))]))
        load, clear = int(rng.random() < 0.7), int(rng.random() < 0.06)
        w = rng.choice([-128, -127, 127], cols) if step < 150 else rng.integers(-128, 128, cols)
        ops.append((load, clear, w.tolist(), s, z, L))
    ops += [(0, 0, [0] * cols, s, z, L)] * (TERM_LATENCY + 1)
    want = assert_comp_equal(cfg, ops, name)
    assert np.abs(want).max() > 0


def _extreme_ops(cfg, K, factor_kind, rng):
    """K rows: column 0 all +127, column 1 all -128, the others random in {-128, 127}."""
    W = rng.choice([-128, 127], (K, cfg.pea_cols))
    W[:, 0] = 127
    if cfg.pea_cols > 1:
        W[:, 1] = -128
    if cfg.variant == "panacea" and factor_kind == "max":
        s, z, L = (1 << cfg.ho_bits) - 1, 0, max(cfg.splits)      # largest positive factor
    else:
        s, z, L = 0, 255, min(cfg.splits)                         # most negative factor
    ops = [(1, int(k == 0), W[k].tolist(), s, z, L) for k in range(K)]
    return ops, W, comp_factor(cfg, s, z, L)


@pytest.mark.parametrize("name", list(PRESETS))
def test_compensator_k_max_extremes(name):
    """k_max rows of extreme weights with the extreme factors: the term equals
    factor * sum_k W (exact integers) mod 2**32 at the end of the block."""
    cfg = PRESETS[name]
    rng = np.random.default_rng(cfg.k_max)
    kinds = ("max", "min") if cfg.variant == "panacea" else ("min",)
    for kind in kinds:
        ops, W, f = _extreme_ops(cfg, cfg.k_max, kind, rng)
        s, z, L = ops[0][3:]
        ops += [(0, 0, [0] * cfg.pea_cols, s, z, L)] * TERM_LATENCY
        # long blocks: check the first and the last cycles only (the rest is the same logic)
        every = 1 if cfg.k_max <= 64 else len(ops) - TERM_LATENCY - 1
        want = assert_comp_equal(cfg, ops, f"{name} {kind}", check_every=every)
        exact = f * W.astype(object).sum(0)
        assert (want[-1] == wrap32(exact)).all()


def test_compensator_term_wraps_mod_2_32():
    """More rows than any k_max, at the largest factor: the term wraps like a 32-bit register
    (column 0 through +2**31, column 1 through -2**31)."""
    cfg = PRESETS["tiny"]
    s, z, L = (1 << cfg.ho_bits) - 1, 0, max(cfg.splits)
    f = comp_factor(cfg, s, z, L)
    n = (1 << 31) // (f * 127) + 3
    ops = [(1, int(k == 0), [127, -128], s, z, L) for k in range(n)]
    ops += [(0, 0, [0, 0], s, z, L)] * TERM_LATENCY
    want = assert_comp_equal(cfg, ops, "wrap", check_every=500)
    exact = [f * 127 * n, -f * 128 * n]
    assert exact[0] >= 1 << 31 and exact[1] < -(1 << 31)         # the test really wraps
    assert (want[-1] == wrap32(exact)).all()


# ---------------------------------------------------------------------------------------
# accumulators
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tiny", "default", "tiny_dense"])
def test_accumulators_init_takes_the_term_and_adds_both_inputs(name):
    """Random init / term / products (full widths): every cycle
    acc <- (init ? term[col] : acc) + p[lane] + q[lane], mod 2**32, computed independently
    (an init takes the term plus the products landing at its edge: the pass overlap);
    terms near +-2**31 make the sums wrap. (The operators zero p / q without a MAC and
    route DWO products to their tile's lanes: tested at the PEA level, test_pea.py.)"""
    cfg = PRESETS[name]
    rows, cols = cfg.rows_per_pass, cfg.pea_cols
    lanes = rows * cols
    has_q = cfg.variant != "dense"
    p_bits, q_bits = 15, (21 if has_q else None)
    dut = Accumulators(config=cfg, p_bits=p_bits, q_bits=q_bits)
    rng = np.random.default_rng(zlib.crc32(f"accs/{name}".encode()))
    raw_t, raw_y = dut.term.as_value(), dut.y.as_value()

    def rand_signed(bits, n, p_zero):
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        v = rng.integers(lo, hi + 1, n)
        v[rng.random(n) < 0.2] = lo
        v[rng.random(n) < 0.2] = hi
        v[rng.random(n) < p_zero] = 0
        return v

    acc = np.zeros(lanes, dtype=np.int64)
    counts = {"init_over_add": 0}

    async def tb(ctx):
        nonlocal acc
        for step in range(250):
            init = int(rng.random() < 0.12)
            term = rng.choice([(1 << 31) - 1, -(1 << 31), 0,
                               int(rng.integers(-(1 << 31), 1 << 31))], cols)
            p = rand_signed(p_bits, lanes, 0.3)
            ctx.set(dut.init, init)
            ctx.set(raw_t, formats.pack_lanes(term, 32))
            for i, v in enumerate(p.tolist()):
                ctx.set(dut.p[i], v)
            add = p.copy()
            if has_q:
                q = rand_signed(q_bits, lanes, 0.5)
                for i, v in enumerate(q.tolist()):
                    ctx.set(dut.q[i], v)
                add += q
            got = formats.unpack_lanes(ctx.get(raw_y), 32, lanes, signed=True)
            assert (got == acc).all(), f"cycle {step}"
            await ctx.tick()
            if init:
                counts["init_over_add"] += int(add.any())
                acc = wrap32(np.tile(term, rows).astype(object) + add)
            else:
                acc = wrap32(acc.astype(object) + add)
        got = formats.unpack_lanes(ctx.get(raw_y), 32, lanes, signed=True)
        assert (got == acc).all(), "after the last cycle"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert counts["init_over_add"] > 0


def test_accumulators_reject_bad_widths():
    cfg = PRESETS["tiny"]
    for bad in (0, 33, True, 4.0, None):
        with pytest.raises(ValueError, match="p_bits"):
            Accumulators(config=cfg, p_bits=bad)
    with pytest.raises(ValueError, match="q_bits"):
        Accumulators(config=cfg, p_bits=8, q_bits=0)
    with pytest.raises(TypeError, match="config"):
        Accumulators(config="tiny", p_bits=8)


@pytest.mark.parametrize("cfg", CONFIGS[-2:], ids=lambda c: c.name)
def test_pea_odd_configs_convert_and_compute(cfg):
    """Unusual shapes (G=3, 5 columns, splits (2, 6); or everything 1 with k_max=1) build to
    Verilog and still match the contract model."""
    from panacea_hdl.sim.runner import emit_verilog
    from sim_tests.unit.test_pea import (load_program, model_trace, random_pass_program,
                                         simulate_pea, assert_traces_equal)
    from panacea_hdl.rtl.pea.pea import PEA

    assert "module pea_odd" in emit_verilog(PEA(config=cfg), "pea_odd")
    rng = np.random.default_rng(7)
    K = min(cfg.k_max, 9)
    prog = load_program(cfg, rng.integers(-127, 128, (K, cfg.pea_cols)), rng)
    prog += random_pass_program(cfg, K, 30, rng, p_write=0.05) + [{}] * (MAC_STAGES + 1)
    for L in cfg.splits:
        s = int(rng.integers(0, 1 << (8 - L)))
        z = int(rng.integers(0, 256))
        assert_traces_equal(simulate_pea(cfg, prog, s, z, L), model_trace(cfg, prog, s, z, L),
                            f"{cfg.name} L={L}")


@pytest.mark.parametrize("lo,hi", [(0, 31), (0, 255), (-31, 31), (-124, 124), (0, 124),
                                   (-255, 992), (-255, 0)])
def test_lane_registers_as_wide_as_their_values(lo, hi):
    """Each stage register of a lane holds every value it can get for an operand in
    [lo, hi] (brute force over the operand range and all int8 weights, through the golden
    model's digits), and is one bit too narrow without its top bit: no wider than needed."""
    from panacea_hdl.rtl.lanes import combine_stage, operand_stage, product_stage

    m = Module()
    x = Signal(signed(12))
    op = operand_stage(m, x, name="x", lo=lo, hi=hi)
    w = Signal(data.ArrayLayout(signed(8), 1))
    prods = product_stage(m, op, digit_stage(m, w, name="w")[0], name="p")
    p = combine_stage(m, prods, name="c")
    xs = np.arange(lo, hi + 1)
    digits = np.array([split_weight(int(v)) for v in range(-128, 128)])   # (WH, WL)
    slice_products = np.concatenate([np.outer(xs, digits[:, 0]), np.outer(xs, digits[:, 1])])
    products = np.outer(xs, np.arange(-128, 128))

    def need(v):
        lo_, hi_ = int(v.min()), int(v.max())
        return next(b for b in range(1, 64) if -(1 << (b - 1)) <= lo_ and hi_ < (1 << (b - 1)))

    assert len(op.pos) == need(xs) and len(op.neg) == need(-xs)
    assert len(prods.ph) == len(prods.pl) == need(slice_products)
    assert len(p) == need(products)
