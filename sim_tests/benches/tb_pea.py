"""cocotb bench of one PEA (generated Verilog), driven from golden-model data.

The pytest driver (``sim_tests/test_pea_cocotb.py``) writes a JSON job (path in the
environment variable ``PEA_JOB``): per case the config lanes, ``s``, ``z``, ``L``, the weight
rows of the column block, the low-order beats and literal high-order vectors of every pass
(from ``golden_model.aqs_gemm.slice_plan``) and the expected ``y`` of each pass (from
``golden_model``). The bench loads the weights, issues SWO beats and DWO literals (with random
gaps and both operators in the same cycle), DRAINs (the PEA's pipeline depth
``panacea_hdl.rtl.lanes.MAC_STAGES``), checks ``y`` in the
HANDOFF cycle and resets the accumulators to the term (``acc_clear``). It also checks the
issue-to-``y`` latency: a MAC issued in cycle t is invisible in ``y`` at t .. t +
MAC_STAGES and visible from t + MAC_STAGES + 1, on top of the compensation term the
accumulators took after the LOAD (``TERM_LATENCY`` cycles after the write).
"""

from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from panacea_hdl.rtl.pea.compensator import TERM_LATENCY
from panacea_hdl.rtl.lanes import MAC_STAGES


def pack(values, width):
    mask = (1 << width) - 1
    out = 0
    for i, v in enumerate(values):
        out |= (int(v) & mask) << (i * width)
    return out


def unpack_signed(word, width, lanes):
    mask = (1 << width) - 1
    vals = [(word >> (i * width)) & mask for i in range(lanes)]
    return [v - (1 << width) if v >> (width - 1) else v for v in vals]


class PEADriver:
    def __init__(self, dut, job):
        self.dut = dut
        self.cfg = job["config"]
        self.lanes = self.cfg["rows_per_pass"] * self.cfg["pea_cols"]
        self.cycle = 0

    def idle(self):
        d = self.dut
        for name in ("w_we", "comp_clear", "swo_en", "dwo_en", "acc_clear"):
            getattr(d, name).value = 0

    def y(self):
        return unpack_signed(self.dut.y.value.to_unsigned(), 32, self.lanes)

    async def step(self, **inputs):
        """Wait for mid-cycle, return y of this cycle, apply ``inputs`` for this cycle's edge."""
        await FallingEdge(self.dut.clk)
        y = self.y()
        self.idle()
        c = self.cfg
        widths = {"w_data": 8, "swo_al": c["lo_bits"], "dwo_ah": c["ho_bits"]}
        for name, v in inputs.items():
            getattr(self.dut, name).value = pack(v, widths[name]) if name in widths else int(v)
        self.cycle += 1
        return y


async def reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    # (the LOAD-overlap inputs stay 0: one weight-buffer half, one term set, as the core
    # drives them when K > k_max / 2)
    for name in ("w_we", "comp_clear", "swo_en", "dwo_en", "acc_clear", "w_addr", "w_data",
                 "swo_k", "swo_al", "dwo_k", "dwo_tile", "dwo_ah", "s", "z", "split",
                 "w_half", "r_half", "comp_other", "term_swap"):
        getattr(dut, name).value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


def load_job():
    with open(os.environ["PEA_JOB"]) as f:
        return json.load(f)


@cocotb.test()
async def golden_passes(dut):
    """Every case of the job: LOAD, passes with gaps, y at HANDOFF == golden."""
    job = load_job()
    await reset(dut)
    drv = PEADriver(dut, job)
    rnd = random.Random(job["seed"])
    for n, case in enumerate(job["cases"]):
        dut.s.value, dut.z.value, dut.split.value = case["s"], case["z"], case["L"]
        gaps = case["gaps"]
        for k, row in enumerate(case["w"]):
            while rnd.random() < gaps:
                await drv.step()
            await drv.step(w_we=1, w_addr=k, w_data=row, comp_clear=int(k == 0))
        for p, ps in enumerate(case["passes"]):
            swo = [(k, al) for k, al in enumerate(ps["lo"])]
            dwo = [tuple(v) for v in ps["lits"]]          # (tile, k, ah)
            swo.reverse()
            dwo.reverse()
            while swo or dwo:
                inp = {}
                if swo and rnd.random() >= gaps:
                    k, al = swo.pop()
                    inp.update(swo_en=1, swo_k=k, swo_al=al)
                if dwo and rnd.random() >= gaps:
                    t, k, ah = dwo.pop()
                    inp.update(dwo_en=1, dwo_k=k, dwo_tile=t, dwo_ah=ah)
                await drv.step(**inp)
            for _ in range(MAC_STAGES):                  # DRAIN
                await drv.step()
            y = await drv.step(acc_clear=1)                # HANDOFF: y of the pass
            want = [v for row in ps["y"] for v in row]
            assert y == want, (f"case {n} ({case['name']}) pass {p}: y {y} != golden {want}")
        dut._log.info("case %d %s: %d passes ok", n, case["name"], len(case["passes"]))
    await drv.step()


@cocotb.test()
async def latency_issue_to_y_drain_cycles(dut):
    """After a LOAD write the accumulators hold the term; an SWO and a DWO MAC issued in cycle
    t are invisible in y at t .. t + MAC_STAGES and visible from t + MAC_STAGES + 1."""
    job = load_job()
    await reset(dut)
    drv = PEADriver(dut, job)
    c = job["config"]
    rows, cols, G = c["rows_per_pass"], c["pea_cols"], c["group_size"]
    s, z, L = 1, 3, c["splits"][0]
    dut.s.value, dut.z.value, dut.split.value = s, z, L
    await drv.step(w_we=1, w_addr=0, w_data=[127] * cols, comp_clear=1)
    for _ in range(TERM_LATENCY):            # the write reaches the term, then y
        await drv.step()
    term = ((s << L) - z) * 127
    y0 = await drv.step()
    assert y0 == [term] * drv.lanes, f"y after the LOAD is {y0}, expected the term {term}"
    al = [(1 << c["lo_bits"]) - 1] * rows
    ah = [(1 << c["ho_bits"]) - 1] * G
    last = c["tiles_per_pass"] - 1           # the DWO MAC on the last tile's rows
    ys = [await drv.step(swo_en=1, swo_k=0, swo_al=al, dwo_en=1, dwo_k=0, dwo_tile=last, dwo_ah=ah)]
    for _ in range(MAC_STAGES + 1):
        ys.append(await drv.step())
    for i, y in enumerate(ys[:-1]):
        assert y == y0, f"y changed in cycle t+{i}: {y}"
    want = [term + 127 * al[r] + (((ah[r - last * G] - s) * 127) << L if r >= last * G else 0)
            for r in range(rows) for _ in range(cols)]
    assert ys[-1] == want, f"y at t+{MAC_STAGES + 1} is {ys[-1]}, expected {want}"
