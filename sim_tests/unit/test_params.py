# amaranth: UnusedElaboratable=no
"""Amaranth-simulator test of :class:`panacea_hdl.rtl.params.ParamCheck` against the rules of
``docs/registers.md`` (BAD_PARAM), written out here independently of the RTL."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from golden_model.config import PRESETS, preset
from panacea_hdl import regmap
from panacea_hdl.rtl.params import ParamCheck


def _bad(cfg, p):
    """BAD_PARAM per docs/registers.md."""
    modes = [regmap.MODE_CODES[m] for m in cfg.modes]
    bad = p["mode"] not in modes or p["split"] not in cfg.splits
    if cfg.caps.skip_value and p["mode"] == regmap.MODE_CODES["aqs"] and p["split"] in cfg.splits:
        bad |= p["rval"] >= 1 << (8 - p["split"])
    bad |= p["dim_m"] == 0 or p["dim_k"] == 0 or p["dim_n"] == 0 or p["dim_k"] > cfg.k_max
    return bad


def _random_params(rng, cfg):
    return {
        "mode": rng.randrange(4), "rval": rng.choice([0, 1, 7, 15, 16, 31, 32, 63, 64, 255]),
        "zp": rng.randrange(256), "split": rng.choice([0, 1, *cfg.splits, 6, 7, 12, 15]),
        "dim_m": rng.choice([0, 1, 7, 65535]), "dim_k": rng.choice([0, 1, cfg.k_max, cfg.k_max + 1]),
        "dim_n": rng.choice([0, 1, 9, 65535]),
    }


@pytest.mark.parametrize("name", ["tiny", "tiny_sibia", "tiny_dense", "default"])
def test_param_check(name):
    cfg = PRESETS[name]
    dut = ParamCheck(config=cfg)
    rng = random.Random(name)
    cases = [_random_params(rng, cfg) for _ in range(300)]
    assert {_bad(cfg, c) for c in cases} == {True, False}      # both outcomes exercised

    async def tb(ctx):
        prev = None
        for i, p in enumerate(cases):
            for k, v in p.items():
                ctx.set(getattr(dut, k), v)
            ctx.set(dut.start_in, i % 2)
            # combinational outputs follow this cycle's registers
            assert ctx.get(dut.k_len) == p["dim_k"]
            if cfg.caps.sliced:
                assert ctx.get(dut.dense) == (p["mode"] == regmap.MODE_CODES["dense"])
            if cfg.caps.skip_value:
                want_s = p["rval"] & 0xFF if p["mode"] == regmap.MODE_CODES["aqs"] else 0
                assert ctx.get(dut.s) == want_s % (1 << cfg.ho_bits)
            await ctx.tick()
            # registered outputs: the previous cycle's check and copies
            assert ctx.get(dut.start) == i % 2
            assert ctx.get(dut.bad) == _bad(cfg, p), (name, p)
            assert ctx.get(dut.pe_z) == p["zp"] and ctx.get(dut.pe_split) == p["split"]
            prev = p
        assert prev is cases[-1]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


def test_widths_follow_the_register_map():
    dut = ParamCheck(config=preset("tiny"))
    for name in ("mode", "rval", "zp", "split"):
        assert len(getattr(dut, name)) == regmap.register(name.upper()).field("value").width
    assert len(dut.dim_k) == regmap.DIM_BITS
