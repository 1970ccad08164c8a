# amaranth: UnusedElaboratable=no
"""Amaranth-simulator test of :class:`panacea_hdl.rtl.output_bank.OutputBank`: random loads
(only when empty, as the sequencer does), a randomly stalling sink and flushes; the beats seen
must be exactly the loaded rows in order (the first ``load_count`` of each load, cut by a
flush except for the beat on offer), ``y_last`` on the last row of a last pass only, and
``valid`` / payload held until ``ready`` (AXI4-Stream)."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from golden_model.config import preset
from panacea_hdl.rtl.output_bank import OutputBank


@pytest.mark.parametrize("name", ["tiny", "default", "tiny_t3", "tiny_t4"])
def test_output_bank(name):
    cfg = preset(name)
    rows_pp, cols = cfg.rows_per_pass, cfg.cols
    dut = OutputBank(config=cfg)
    rng = random.Random(name)
    seen, expect = [], []
    stats = {"loads": 0, "flushes": 0, "kept": 0}

    async def tb(ctx):
        pending = []                 # model: rows still to send (value list, is_last)
        offered = None               # (payload, last) on offer in the previous cycle, not taken
        for cycle in range(3000):
            ready = rng.random() < 0.6
            ctx.set(dut.y.ready, ready)
            load = flush = 0
            if ctx.get(dut.empty) and rng.random() < 0.3:
                load = 1
                n = rng.randint(1, rows_pp)
                last = rng.random() < 0.3
                rows = [[rng.randint(-2**31, 2**31 - 1) for _ in range(cols)] for _ in range(rows_pp)]
                ctx.set(dut.rows, rows)
                ctx.set(dut.load_count, n)
                ctx.set(dut.load_last, last)
            elif rng.random() < 0.03:
                flush = 1
            ctx.set(dut.load, load)
            ctx.set(dut.flush, flush)
            valid = ctx.get(dut.y.valid)
            assert valid == bool(pending)
            if valid:
                payload = [int(v) for v in ctx.get(dut.y.payload)]
                is_last = ctx.get(dut.y_last)
                assert (payload, is_last) == pending[0]
                if offered is not None:     # AXI4-Stream: held until taken
                    assert (payload, is_last) == offered
                if ready:
                    seen.append(pending.pop(0))
                    offered = None
                else:
                    offered = (payload, is_last)
            else:
                assert offered is None, "a beat on offer was withdrawn"
            if flush:
                stats["flushes"] += 1
                if valid and not ready:
                    pending = pending[:1]
                    stats["kept"] += 1
                else:
                    pending = []
            elif load:
                stats["loads"] += 1
                new = [(rows[r], bool(last and r == n - 1)) for r in range(n)]
                expect.extend(new)
                pending = new
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert stats["loads"] > 50 and stats["flushes"] > 10 and stats["kept"] > 0, stats
    assert seen and all(s in expect for s in seen)
    assert any(last for _, last in seen)
