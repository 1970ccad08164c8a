"""cocotb host of the generated Panacea core (``panacea_<name>``), any config.

The host side uses cocotbext-axi: ``AxiLiteMaster`` on ``csr``, ``AxiStreamSource`` on
``w``/``lo``/``ho`` and ``AxiStreamSink`` on ``y`` (one beat per "byte": ``byte_lanes=1``;
random stalls through their pause generators). :class:`Host` runs a GEMM job (from
:func:`panacea_hdl.sim.gemm.job_from_run`) and checks the result bit for bit, ``tlast``,
STATUS and every counter against the job's prediction (``cycles`` exactly when no stream
stalls).

The cocotb test :func:`run_job` is what :func:`panacea_hdl.sim.gemm.run_jobs_sim` runs:
it reads ``PANACEA_PARAMS`` (params.json of the build) and ``PANACEA_JOB``, and writes
``PANACEA_RESULT``. The test benches of ``sim_tests/benches/tb_top.py`` reuse :class:`Host`.
"""

from __future__ import annotations

import json
import os
import random
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

from golden_model.config import load_config
from golden_model.cycle_model import COUNTERS
from panacea_hdl import regmap
from panacea_hdl.regmap import ErrorCode
from panacea_hdl.sim.gemm import JOB_ENV, PARAMS_ENV, PROGRESS_ENV, RESULT_ENV, load_job

__all__ = ["Host", "setup", "run_job", "CLOCK_NS", "STREAMS"]

CLOCK_NS = 10
STREAMS = ("w", "lo", "ho")


def _config():
    return load_config(os.environ[PARAMS_ENV])


def _random_pauses(rng, p):
    while True:
        yield rng.random() < p


class Host:
    """cocotbext-axi drivers of one core, and the GEMM procedure."""

    def __init__(self, dut, cfg):
        self.dut = dut
        self.cfg = cfg
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "csr", bus_separator="__"),
                                  dut.clk, dut.rst)
        self.src = {n: AxiStreamSource(AxiStreamBus.from_prefix(dut, n, bus_separator="__"),
                                       dut.clk, dut.rst, byte_lanes=1) for n in STREAMS}
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "y", bus_separator="__"),
                                  dut.clk, dut.rst, byte_lanes=1)
        for s in (*self.src.values(), self.sink):
            s.log.setLevel("WARNING")
        self.axil.write_if.log.setLevel("WARNING")
        self.axil.read_if.log.setLevel("WARNING")
        self.busy_cycles = 0
        cocotb.start_soon(self._count_busy())

    async def _count_busy(self):
        while True:
            await RisingEdge(self.dut.clk)
            if self.dut.busy.value == 1:
                self.busy_cycles += 1

    async def reset(self, cycles=3):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)

    def set_stalls(self, p, seed=0):
        rng = random.Random(seed)
        for s in (*self.src.values(), self.sink):
            if p:
                s.set_pause_generator(_random_pauses(random.Random(rng.getrandbits(32)), p))
            else:
                s.clear_pause_generator()
                s.pause = False

    def flush_streams(self):
        """Drop everything queued or in flight on the host side (after an error or abort)."""
        for s in (*self.src.values(), self.sink):
            s.clear()
            s.assert_reset()
        self.sink.read_queue.clear()

    # ---- registers ------------------------------------------------------------------------
    async def write(self, addr, value):
        resp = await self.axil.write(addr, int(value).to_bytes(4, "little"))
        return int(resp.resp)

    async def write_ok(self, addr, value):
        resp = await self.write(addr, value)
        assert resp == 0, f"write {value:#x} to {addr:#x}: resp {resp}"

    async def read(self, addr):
        r = await self.axil.read(addr, 4)
        assert int(r.resp) == 0, f"read {addr:#x}: resp {int(r.resp)}"
        return int.from_bytes(r.data, "little")

    async def status(self):
        return regmap.decode_status(await self.read(regmap.STATUS))

    async def counters(self):
        return {name: await self.read(regmap.COUNTER_ADDR[name]) for name in COUNTERS}

    async def program(self, *, mode_code, r, z, L, M, K, N, requant=None):
        """Write the parameter registers; REQUANT too when ``requant`` is not None (builds
        with the requantization stage: every GEMM writes it, so EN never leaks)."""
        regs = [(regmap.MODE, mode_code), (regmap.RVAL, r), (regmap.ZP, z),
                (regmap.SPLIT, L), (regmap.DIM_M, M), (regmap.DIM_K, K), (regmap.DIM_N, N)]
        if requant is not None:
            regs.append((regmap.REQUANT, requant))
        for addr, value in regs:
            await self.write_ok(addr, value)

    async def wait_idle(self, timeout_cycles, *, progress_from=None):
        """Poll STATUS until BUSY clears; returns the decoded STATUS.

        With ``progress_from`` given and ``PANACEA_PROGRESS`` set, the busy cycles of this
        bench so far (all its GEMMs) are written to that file about twice a second, for the
        caller's progress bar.
        """
        path = os.environ.get(PROGRESS_ENV) if progress_from is not None else None
        last = time.perf_counter()
        for _ in range(max(1, timeout_cycles // 8)):
            st = await self.status()
            if not st["busy"]:
                return st
            await ClockCycles(self.dut.clk, 4)
            if path and time.perf_counter() - last > 0.5:
                last = time.perf_counter()
                with open(path + ".tmp", "w") as f:
                    f.write(str(self.busy_cycles))
                os.replace(path + ".tmp", path)
        raise AssertionError(f"core still busy after ~{timeout_cycles} cycles")

    async def start_job(self, job):
        """Queue the job's streams (w before lo/ho of each block, all ahead), program, START."""
        for n in STREAMS:
            if job["streams"][n]:       # an empty frame would never complete (dense variant: no ho)
                self.src[n].send_nowait(AxiStreamFrame(list(job["streams"][n])))
        await self.program(mode_code=job["mode_code"], r=job["r"], z=job["z"], L=job["L"],
                           M=job["M"], K=job["K"], N=job["N"], requant=job.get("requant"))
        busy0 = self.busy_cycles
        await self.write_ok(regmap.CTRL, regmap.CTRL_START)
        return busy0

    async def run_job(self, job, *, check_cycles=True):
        """Run a GEMM; returns ``(y beats, counters, problems)`` (problems: list of strings)."""
        busy0 = await self.start_job(job)
        budget = 50 * (job["counters"]["cycles"] + 100)
        st = await self.wait_idle(budget, progress_from=busy0)
        problems = []
        if st != {"busy": False, "done": True, "error": False, "errcode": ErrorCode.NONE}:
            problems.append(f"STATUS {st}")
        for n in STREAMS:
            if not self.src[n].idle():
                problems.append(f"{n} stream not fully consumed")
        beats = []
        if not problems:
            frame = await with_timeout(self.sink.recv(), 1000 * CLOCK_NS, "ns")
            beats = list(frame.tdata)
            if not self.sink.empty():
                problems.append("tlast before the GEMM's last beat (more than one y frame)")
            if beats != job["y"]:
                bad = [i for i, (a, b) in enumerate(zip(beats, job["y"])) if a != b]
                problems.append(f"y differs from the golden result: {len(beats)} beats "
                                f"(expected {len(job['y'])}), first differing beats {bad[:5]}")
        got = await self.counters()
        if got["cycles"] != self.busy_cycles - busy0:
            problems.append(f"cycles counter {got['cycles']} != busy cycles "
                            f"{self.busy_cycles - busy0}")
        exp = job["counters"]
        diff = {k: (got[k], exp[k]) for k in COUNTERS
                if got[k] != exp[k] and (check_cycles or k != "cycles")}
        if not check_cycles and got["cycles"] < exp["cycles"]:
            diff["cycles"] = (got["cycles"], exp["cycles"])
        if diff:
            problems.append(f"counters (rtl, golden): {diff}")
        return beats, got, problems

    async def abort_job(self, job, after):
        """Start ``job``, write CTRL.ABORT ``after`` cycles later; returns problems (the core must
        end idle with ERROR/ABORTED, stop sending ``y`` and leave the host to drop its streams)."""
        await self.start_job(job)
        await ClockCycles(self.dut.clk, after)
        await self.write_ok(regmap.CTRL, regmap.CTRL_ABORT)
        st = await self.wait_idle(1000)
        problems = []
        if st["busy"] or (st["error"] and st["errcode"] != ErrorCode.ABORTED):
            problems.append(f"after ABORT: STATUS {st}")
        if not st["error"] and not st["done"]:
            problems.append(f"after ABORT: neither DONE nor ERROR ({st})")
        await ClockCycles(self.dut.clk, 8)
        if not st["done"] and self.dut.y__tvalid.value == 1:
            problems.append("y still valid after ABORT")
        self.flush_streams()
        await ClockCycles(self.dut.clk, 2)
        return problems


async def setup(dut):
    cfg = _config()
    dut.rst.value = 1          # defined from time 0: the drivers sample the core from the start
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    host = Host(dut, cfg)
    await host.reset()
    info = await host.read(regmap.INFO)
    assert info == regmap.info_value(cfg), f"INFO {info:#x}: the build is not of {cfg.name}"
    assert await host.read(regmap.KMAX) == cfg.k_max
    return host, cfg


@cocotb.test()
async def run_job(dut):
    """The GEMMs of ``PANACEA_JOB`` one after the other; writes what was measured to
    ``PANACEA_RESULT`` (stops at the first GEMM with a problem)."""
    if JOB_ENV not in os.environ:
        dut._log.info("no %s: nothing to run", JOB_ENV)
        return
    host, cfg = await setup(dut)
    spec = load_job(os.environ[JOB_ENV])
    if spec.get("stalls"):
        host.set_stalls(0.3, seed=spec.get("seed", 0))
    results, problems = [], []
    for job in spec["jobs"]:
        if job["config"] != cfg.to_dict():
            raise AssertionError("the job was made for another config than this build")
        if job.get("abort_after") is not None:
            problems = await host.abort_job(job, job["abort_after"])
            results.append({"ok": not problems, "problem": "; ".join(problems), "y": None,
                            "counters": None, "aborted": True, "wall_seconds": 0.0,
                            "sim_cycles": 0.0})
            if problems:
                break
            continue
        t0, cpu0 = time.perf_counter(), time.process_time()
        sim_t0 = get_sim_time("ns")
        beats, got, problems = await host.run_job(job, check_cycles=not spec.get("stalls"))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        results.append({"ok": not problems, "problem": "; ".join(problems), "y": beats,
                        "counters": got, "wall_seconds": wall, "cpu_seconds": cpu,
                        "sim_cycles": (get_sim_time("ns") - sim_t0) / CLOCK_NS})
        if problems:
            break
    tmp = os.environ[RESULT_ENV] + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"results": results}, f)
    os.replace(tmp, os.environ[RESULT_ENV])
    assert not problems, "; ".join(problems)
