"""Block-level tests of the PEA's parts: layouts, weight digits, weight buffer, compensator."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Fragment, Module, Signal, signed
from amaranth.sim import Simulator

from golden_model import formats
from golden_model.config import PRESETS, PanaceaConfig
from golden_model.slicing import split_weight
from panacea_hdl import layouts
from panacea_hdl.compensator import Compensator
from panacea_hdl.weight_buffer import WeightBuffer, weight_digits

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


def test_weight_digits_exhaustive():
    """weight_digits on every int8 value equals golden_model.slicing.split_weight."""
    w = Signal(signed(8))
    wh, wl = weight_digits(w)
    oh, ol = Signal(signed(5)), Signal(signed(4))
    m = Module()
    m.d.comb += [oh.eq(wh), ol.eq(wl)]
    values = np.arange(-128, 128)
    WH, WL = split_weight(values)
    got = []

    async def tb(ctx):
        for v in values.tolist():
            ctx.set(w, v)
            got.append((ctx.get(oh), ctx.get(ol)))

    sim = Simulator(m)
    sim.add_testbench(tb)
    sim.run()
    got = np.array(got)
    assert (got[:, 0] == WH).all() and (got[:, 1] == WL).all()
    assert (16 * got[:, 0] + got[:, 1] == values).all()


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


@pytest.mark.parametrize("name", ["tiny", "default"])
def test_compensator_sums_and_term(name):
    """C = sum of the rows loaded since comp_clear; term = ((s << L) - z) * C, registered (two stages)."""
    cfg = PRESETS[name]
    dut = Compensator(config=cfg)
    rng = np.random.default_rng(len(name))
    raw_w, raw_t, raw_c = dut.w.as_value(), dut.term.as_value(), dut.c.as_value()
    cols = cfg.pea_cols

    async def tb(ctx):
        C = np.zeros(cols, dtype=np.int64)
        hist = []
        for step in range(300):
            load, clear = int(rng.random() < 0.7), int(rng.random() < 0.05)
            w = rng.choice([-127, 127], cols) if step < 150 else rng.integers(-127, 128, cols)
            ctx.set(dut.load, load); ctx.set(dut.clear, clear)
            ctx.set(raw_w, formats.pack_lanes(w, 8))
            L = int(rng.choice(cfg.splits))
            s = int(rng.integers(0, 1 << cfg.ho_bits))
            z = int(rng.choice([0, 255, int(rng.integers(0, 256))]))
            ctx.set(dut.split, L); ctx.set(dut.s, s); ctx.set(dut.z, z)
            got_c = formats.unpack_lanes(ctx.get(raw_c), dut.c_bits, cols, signed=True)
            got_t = formats.unpack_lanes(ctx.get(raw_t), 32, cols, signed=True)
            assert (got_c == C).all()
            # two stages: factor (s << L) - z of cycle n-2 times C of cycle n-1
            if len(hist) == 2:
                (L2, s2, z2), _ = hist[0]
                C1 = hist[1][1]
                want_t = (((s2 << L2) - z2) * C1 + (1 << 31)) % (1 << 32) - (1 << 31)
                assert (got_t == want_t).all(), hist
            hist = (hist + [((L, s, z), C.copy())])[-2:]
            await ctx.tick()
            if load:
                C = w.astype(np.int64) if clear else C + w
            elif clear:
                C[:] = 0

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()


def test_compensator_holds_k_max_extremes():
    """k_max rows of +-127 fit the column-sum register (no wrap) on every preset."""
    for cfg in PRESETS.values():
        comp = Compensator(config=cfg)
        Fragment.get(comp, None)          # elaborate it (also marks it used)
        bits = comp.c_bits
        assert 127 * cfg.k_max < (1 << (bits - 1))


@pytest.mark.parametrize("cfg", CONFIGS[-2:], ids=lambda c: c.name)
def test_pea_odd_configs_convert_and_compute(cfg):
    """Unusual shapes (G=3, 5 columns, splits (2, 6); or everything 1 with k_max=1) build to
    Verilog and still match the contract model."""
    from sim_tests.runner import emit_verilog
    from sim_tests.unit.test_pea import (load_program, model_trace, random_pass_program,
                                         simulate_pea, assert_traces_equal)
    from panacea_hdl.pea import PEA

    assert "module pea_odd" in emit_verilog(PEA(config=cfg), "pea_odd")
    rng = np.random.default_rng(7)
    K = min(cfg.k_max, 9)
    prog = load_program(cfg, rng.integers(-127, 128, (K, cfg.pea_cols)), rng)
    prog += random_pass_program(cfg, K, 30, rng) + [{}, {}]
    for L in cfg.splits:
        s = int(rng.integers(0, 1 << (8 - L)))
        z = int(rng.integers(0, 256))
        assert_traces_equal(simulate_pea(cfg, prog, s, z, L), model_trace(cfg, prog, s, z, L),
                            f"{cfg.name} L={L}")
