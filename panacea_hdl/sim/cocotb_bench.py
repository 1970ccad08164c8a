"""cocotb host of the generated Panacea core (``panacea_<name>``), any config.

The host side uses cocotbext-axi: ``AxiLiteMaster`` on ``csr``, ``AxiStreamSource`` on
``w``/``lo``/``ho`` and ``AxiStreamSink`` on ``y`` (one beat per "byte": ``byte_lanes=1``;
random stalls through their pause generators), wrapped as a :class:`CocotbPort` for the one
host driver, :class:`panacea_hdl.sim.host.CoreHost`, which runs a GEMM job (from
:func:`panacea_hdl.sim.gemm.job_from_run`) and checks the result bit for bit, ``tlast``,
STATUS and every counter against the job's prediction (``cycles`` exactly when no stream
stalls).

The cocotb test :func:`run_job` is what :func:`panacea_hdl.sim.gemm.run_jobs_sim` runs:
it reads ``PANACEA_PARAMS`` (params.json of the build) and ``PANACEA_JOB``, and writes
``PANACEA_RESULT``. The test benches of ``sim_tests/benches/tb_top.py`` reuse :func:`setup`.
"""

from __future__ import annotations

import json
import os
import random
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

from golden_model.config import load_config
from panacea_hdl.sim.host import (RESET_CYCLES, RESET_IDLE_CYCLES, STALL_PROBABILITY, STREAMS,
                                  CoreHost, frame_lasts)
from panacea_hdl.sim.gemm import JOB_ENV, PARAMS_ENV, PROGRESS_ENV, RESULT_ENV, load_job

__all__ = ["CocotbPort", "setup", "run_job", "CLOCK_NS"]

CLOCK_NS = 10


def _config():
    return load_config(os.environ[PARAMS_ENV])


def _random_pauses(rng, p):
    while True:
        yield rng.random() < p


class CocotbPort:
    """The cocotb port of :class:`panacea_hdl.sim.host.CoreHost`: cocotbext-axi drivers of one core.

    Also ``reset()``, ``set_stalls(p, seed)`` and the drivers themselves (``axil``, ``src``,
    ``sink``) for test cases that need them.
    """

    def __init__(self, dut):
        self.dut = dut
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

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, RESET_CYCLES)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, RESET_IDLE_CYCLES)

    def set_stalls(self, p, seed=0):
        """Pause every source and the sink with probability ``p`` per cycle (0: never)."""
        rng = random.Random(seed)
        for s in (*self.src.values(), self.sink):
            if p:
                s.set_pause_generator(_random_pauses(random.Random(rng.getrandbits(32)), p))
            else:
                s.clear_pause_generator()
                s.pause = False

    # ---- Port ---------------------------------------------------------------------------------
    async def write(self, addr, value):
        resp = await self.axil.write(addr, int(value).to_bytes(4, "little"))
        return int(resp.resp)

    async def read(self, addr):
        r = await self.axil.read(addr, 4)
        return int.from_bytes(r.data, "little"), int(r.resp)

    async def ticks(self, n):
        await ClockCycles(self.dut.clk, n)

    def send(self, stream, beats, lasts=None):
        beats = list(beats)
        if lasts is None:
            lasts = frame_lasts(len(beats))
        frame = []
        for beat, last in zip(beats, lasts):     # one AxiStreamFrame per TLAST
            frame.append(beat)
            if last:
                self.src[stream].send_nowait(AxiStreamFrame(frame))
                frame = []
        if frame:
            self.src[stream].send_nowait(AxiStreamFrame(frame))

    def source_idle(self, stream):
        return self.src[stream].idle()

    async def take_y(self, timeout_cycles):
        try:
            frame = await with_timeout(self.sink.recv(), timeout_cycles * CLOCK_NS, "ns")
        except SimTimeoutError:
            return []
        beats = [(b, 0) for b in frame.tdata]
        if beats:
            beats[-1] = (beats[-1][0], 1)
        while not self.sink.empty():            # a second frame: tlast came too early
            beats += [(b, 0) for b in self.sink.recv_nowait().tdata]
        return beats

    def y_valid(self):
        return self.dut.y__tvalid.value == 1

    def irq(self):
        return self.dut.irq.value == 1

    def flush(self):
        for s in (*self.src.values(), self.sink):
            s.clear()
            s.assert_reset()
        self.sink.read_queue.clear()


def _progress_writer(port):
    """``on_poll`` of :meth:`CoreHost.wait_idle`: with ``PANACEA_PROGRESS`` set, the busy
    cycles of this bench so far (all its GEMMs) go to that file about twice a second, for the
    caller's progress bar."""
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return None
    last = [time.perf_counter()]

    def on_poll():
        if time.perf_counter() - last[0] > 0.5:
            last[0] = time.perf_counter()
            with open(path + ".tmp", "w") as f:
                f.write(str(port.busy_cycles))
            os.replace(path + ".tmp", path)
    return on_poll


async def setup(dut):
    """Clock, drivers and reset of ``dut``; returns ``(host, cfg)``: a
    :class:`~panacea_hdl.sim.host.CoreHost` on a :class:`CocotbPort` (``host.port``) and the
    config of the build (``PANACEA_PARAMS``), checked against INFO and KMAX."""
    cfg = _config()
    dut.rst.value = 1          # defined from time 0: the drivers sample the core from the start
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    port = CocotbPort(dut)
    await port.reset()
    host = CoreHost(port, cfg)
    await host.check_identity()
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
        host.port.set_stalls(STALL_PROBABILITY, seed=spec.get("seed", 0))
    on_poll = _progress_writer(host.port)
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
        beats, got, problems = await host.run_job(job, check_cycles=not spec.get("stalls"),
                                                  on_poll=on_poll)
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
