"""Amaranth-simulator tests of the AXI4-Lite register file (``panacea_hdl.rtl.csr.CSR``).

The AXI4-Lite manager is the product's (:mod:`panacea_hdl.sim.amaranth_host`). The expected
values come from ``docs/registers.md`` (via ``panacea_hdl.regmap``) and a tiny Python model of
the register file, never from the RTL.
"""

from __future__ import annotations

import gc
import random
import warnings

import pytest
from amaranth.sim import Simulator

from golden_model.config import PRESETS, PanaceaConfig
from golden_model.cycle_model import COUNTERS
from panacea_hdl import regmap
from panacea_hdl.rtl.axi import RESP_OKAY, RESP_SLVERR
from panacea_hdl.rtl.csr import CSR, counter_inc_bits
from panacea_hdl.sim.amaranth_host import axil_read, axil_read_ok, axil_write, axil_write_ok  # noqa: F401

TINY = PRESETS["tiny"]


async def _idle(ctx, n):
    for _ in range(n):
        await ctx.tick()


# ---- register model ---------------------------------------------------------------------------
RW_WIDTH = {regmap.MODE: 2, regmap.RVAL: 8, regmap.ZP: 8, regmap.SPLIT: 4,
            regmap.DIM_M: 16, regmap.DIM_K: 16, regmap.DIM_N: 16}
RO = {regmap.STATUS, regmap.ERR_WORD, regmap.INFO, regmap.KMAX,
      *[regmap.counter_addr(i) for i in range(len(COUNTERS))]}


def _strb_mask(strb):
    return sum(0xFF << (8 * i) for i in range(4) if strb >> i & 1)


def _run(dut, *testbenches):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in testbenches:
        sim.add_testbench(tb)
    sim.run()


def test_reset_values_info_kmax():
    cfg = PanaceaConfig(name="odd", group_size=3, pea_cols=5, num_peas=7, splits=(3, 5),
                        k_max=100, rle_run_bits=6)
    dut = CSR(config=cfg)

    async def tb(ctx):
        info = await axil_read_ok(ctx, dut.bus, regmap.INFO)
        assert info == 3 | (5 << 8) | (7 << 16) | (6 << 24)
        assert await axil_read_ok(ctx, dut.bus, regmap.KMAX) == 100
        # SPLIT resets to the smallest supported split when 4 is not supported
        assert await axil_read_ok(ctx, dut.bus, regmap.SPLIT) == 3
        for addr in (regmap.MODE, regmap.RVAL, regmap.ZP, regmap.DIM_M, regmap.DIM_K,
                     regmap.DIM_N, regmap.STATUS, regmap.ERR_WORD):
            assert await axil_read_ok(ctx, dut.bus, addr) == 0, hex(addr)

    _run(dut, tb)


def test_status_and_err_word_follow_inputs():
    dut = CSR(config=TINY)

    async def tb(ctx):
        for busy, done, error, code in [(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 7), (1, 1, 1, 15)]:
            ctx.set(dut.busy, busy)
            ctx.set(dut.done, done)
            ctx.set(dut.error, error)
            ctx.set(dut.errcode, code)
            ctx.set(dut.err_word, 0xDEADBEEF ^ code)
            st = await axil_read_ok(ctx, dut.bus, regmap.STATUS)
            assert st == busy | done << 1 | error << 2 | code << 4
            d = regmap.decode_status(st) if code <= 7 else None
            if d:
                assert d["busy"] == bool(busy) and d["errcode"] == code
            assert await axil_read_ok(ctx, dut.bus, regmap.ERR_WORD) == 0xDEADBEEF ^ code

    _run(dut, tb)


def test_random_register_traffic_against_model():
    """Random reads/writes (strobes, W before AW, late BREADY/RREADY, bad addresses, busy)."""
    dut = CSR(config=TINY)
    rng = random.Random(1)
    model = {a: 0 for a in RW_WIDTH}
    model[regmap.SPLIT] = 4
    outputs = {regmap.MODE: dut.mode, regmap.RVAL: dut.rval, regmap.ZP: dut.zp,
               regmap.SPLIT: dut.split, regmap.DIM_M: dut.dim_m, regmap.DIM_K: dut.dim_k,
               regmap.DIM_N: dut.dim_n}
    all_addrs = list(range(0, 0x80, 4))

    async def tb(ctx):
        busy = 0
        for _ in range(250):
            op = rng.random()
            addr = rng.choice(all_addrs)
            if op < 0.1:
                busy = rng.random() < 0.3
                ctx.set(dut.busy, busy)
            elif op < 0.55:
                value = rng.getrandbits(32)
                strb = rng.choice([0xF, 0xF, rng.getrandbits(4)])
                resp = await axil_write(ctx, dut.bus, addr | rng.getrandbits(2), value, strb,
                                        w_first=rng.randint(-2, 2), b_delay=rng.randint(0, 3))
                if addr in RW_WIDTH and not busy:
                    mask = _strb_mask(strb) & ((1 << RW_WIDTH[addr]) - 1)
                    model[addr] = (model[addr] & ~mask) | (value & mask)
                    assert resp == RESP_OKAY
                elif addr == regmap.CTRL:
                    assert resp == RESP_OKAY
                else:
                    assert resp == RESP_SLVERR, hex(addr)
            else:
                data, resp = await axil_read(ctx, dut.bus, addr, r_delay=rng.randint(0, 3))
                if addr in RW_WIDTH:
                    assert (data, resp) == (model[addr], RESP_OKAY), hex(addr)
                elif addr in RO:
                    assert resp == RESP_OKAY
                else:
                    assert resp == RESP_SLVERR, hex(addr)
            for a, sig in outputs.items():
                assert ctx.get(sig) == model[a], hex(a)

    _run(dut, tb)


def test_ctrl_pulses_once():
    dut = CSR(config=TINY)
    seen = []

    async def tb(ctx):
        for value, strb in [(1, 0xF), (2, 0xF), (3, 0xF), (1, 0xE), (0, 0xF), (0x100, 0xF)]:
            seen.clear()
            await axil_write_ok(ctx, dut.bus, regmap.CTRL, value) if strb == 0xF else \
                await axil_write(ctx, dut.bus, regmap.CTRL, value, strb)
            await _idle(ctx, 3)
            starts = sum(s for s, _ in seen)
            aborts = sum(a for _, a in seen)
            exp = (value & 1, value >> 1 & 1) if strb & 1 else (0, 0)
            assert (starts, aborts) == exp, (value, strb, seen)

    async def monitor(ctx):
        async for _, _, s, a in ctx.tick().sample(dut.start, dut.abort):
            seen.append((s, a))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.add_process(monitor)
    sim.run()


def test_counters_increment_clear_and_read():
    cfg = TINY
    dut = CSR(config=cfg)
    n = len(COUNTERS)
    rng = random.Random(7)
    top = (1 << counter_inc_bits(cfg)) - 1

    async def tb(ctx):
        # the documented contract: an increment is registered, then added one cycle later;
        # a clear zeroes the counter and drops the increment in flight
        totals = [0] * n
        in_flight = [0] * n
        for step in range(60):
            incs = [rng.randint(0, top) for _ in range(n)]
            clear = step in (20, 41, 42)
            for i, v in enumerate(incs):
                ctx.set(dut.counter_inc[i], v)
            ctx.set(dut.counters_clear, clear)
            await ctx.tick()
            if clear:
                totals, in_flight = [0] * n, [0] * n
            else:
                totals = [t + v for t, v in zip(totals, in_flight)]
                in_flight = incs
            for i in range(n):
                assert ctx.get(dut.counters[i]) == totals[i], (step, COUNTERS[i])
        for i in range(n):
            ctx.set(dut.counter_inc[i], 0)
        ctx.set(dut.counters_clear, 0)
        await ctx.tick()                     # the last increment lands
        totals = [t + v for t, v in zip(totals, in_flight)]
        for i, name in enumerate(COUNTERS):
            assert await axil_read_ok(ctx, dut.bus, regmap.COUNTER_ADDR[name]) == totals[i], name
            assert ctx.get(dut.counters[i]) == totals[i]

    _run(dut, tb)


def test_rejects_non_config():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # the half-built component is never elaborated
        with pytest.raises(TypeError, match="config"):
            CSR(config={"name": "tiny"})
        gc.collect()
