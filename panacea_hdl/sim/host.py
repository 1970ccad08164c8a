"""The host driver of the Panacea core: one GEMM procedure over any transport.

:class:`CoreHost` holds what a host does with the core — program the registers, queue the
``w``/``lo``/``ho`` streams, START, poll STATUS, take the ``y`` frame, read the counters, abort —
and checks a GEMM job (:func:`panacea_hdl.sim.gemm.job_from_run`) against what the golden model
predicted, in one place. It speaks to the core only through a :class:`Port`: two register
primitives (``read``, ``write``), the streams and the clock. Two ports exist: the cocotb one
(:mod:`panacea_hdl.sim.cocotb_bench`, cocotbext-axi drivers on Icarus or Verilator) and the
Amaranth-simulator one (:mod:`panacea_hdl.sim.amaranth_host`); an FPGA host would be a third.
The compiled Verilator host (:mod:`panacea_hdl.sim.fastsim`) runs the same procedure in C++ and
takes its constants from here.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from golden_model.cycle_model import counter_names
from panacea_hdl import regmap
from panacea_hdl.regmap import ErrorCode
from panacea_hdl.rtl.axi import RESP_OKAY

__all__ = ["Port", "CoreHost", "RTLMismatch", "check_run", "STREAMS", "RESET_CYCLES",
           "RESET_IDLE_CYCLES", "POLL_CYCLES",
           "Y_TIMEOUT_CYCLES", "STALL_PROBABILITY", "STATUS_DONE", "status_budget", "max_polls", "register_writes",
           "frame_lasts", "stream_lasts"]

#: Input streams of the core, in the order a host queues them.
STREAMS = ("w", "lo", "ho")
#: Reset is held this many cycles, then this many idle cycles pass before the first access.
RESET_CYCLES, RESET_IDLE_CYCLES = 3, 2
#: Cycles between two STATUS polls while the core is busy.
POLL_CYCLES = 4
#: Cycles the ``y`` frame may take to arrive after BUSY clears.
Y_TIMEOUT_CYCLES = 1000
#: Probability per cycle that a source or the ``y`` sink pauses in a job run "with stalls".
STALL_PROBABILITY = 0.3
#: STATUS of a GEMM that ended well.
STATUS_DONE = {"busy": False, "done": True, "error": False, "errcode": ErrorCode.NONE}


def frame_lasts(count: int, frames=()) -> list:
    """TLAST of each of ``count`` beats cut into frames of ``frames`` beats each (beats per
    pass, ``docs/formats.md``): the last beat of each frame, and always the last beat — a host
    whose beats run out ends its last frame there (a stream a test cut short ends in a short
    frame). Without frames the beats are one frame."""
    lasts = [False] * count
    end = 0
    for n in frames:
        end += int(n)
        if 0 < end <= count:
            lasts[end - 1] = True
    if lasts:
        lasts[-1] = True
    return lasts


def stream_lasts(job, stream: str) -> list:
    """:func:`frame_lasts` of ``job["streams"][stream]`` with the job's ``frames`` of it."""
    return frame_lasts(len(job["streams"][stream]), job.get("frames", {}).get(stream, ()))


def status_budget(cycles: int) -> int:
    """Cycles a host waits for BUSY to clear for a GEMM predicted to take ``cycles``
    (50x the prediction plus 100: room for stream stalls)."""
    return 50 * (int(cycles) + 100)


class RTLMismatch(RuntimeError):
    """A run of the core differs from the golden model: result, ``tlast``, STATUS or counters.

    ``job_index`` is the index of the run in its list of jobs, when known.
    """

    def __init__(self, message, *, job_index=None):
        super().__init__(message)
        self.job_index = job_index


def check_run(job, *, status, y, counters, busy_cycles, unconsumed=(), irq=None,
              check_cycles=True, cfg=None) -> list:
    """What differs between one run of the core and its job; the one check of an RTL result.

    Parameters
    ----------
    job : dict
        The job (:func:`panacea_hdl.sim.gemm.job_from_run`): expected ``y`` beats and
        predicted ``counters``.
    status : dict
        Decoded STATUS after BUSY cleared (:func:`panacea_hdl.regmap.decode_status`).
    y : list of (int, bool)
        ``y`` beats received and their ``tlast``.
    counters : dict
        Counter values read after the run.
    busy_cycles : int
        Cycles the host saw ``busy`` high during the run (must equal the ``cycles`` counter).
    unconsumed : iterable of str
        Input streams that still held beats after the run.
    irq : bool, optional
        The ``irq`` output after the run (None: the host does not see it).
    check_cycles : bool
        Compare ``cycles`` exactly (no stalls); otherwise it must only not be below the
        job's ``min_cycles`` (stalls can let a pass chain that does not without them, see
        :func:`golden_model.cycle_model.predict`; the prediction for jobs without it).
    cfg : PanaceaConfig, optional
        Names the first differing element ``Y[m, n]`` when given.

    Returns
    -------
    list of str
        One line per difference; empty when the run is exact.
    """
    problems = []
    if status != STATUS_DONE:
        problems.append(f"STATUS {status}")
    if irq is not None and not irq:
        problems.append("irq low after the GEMM ended")
    problems += [f"{n} stream not fully consumed" for n in unconsumed]
    if not problems:
        beats = [int(b) for b, _ in y]
        lasts = [bool(last) for _, last in y]
        if lasts != [False] * (len(lasts) - 1) + [True]:
            problems.append("tlast must mark the GEMM's last beat and only it")
        if beats != job["y"]:
            bad = [i for i, (a, b) in enumerate(zip(beats, job["y"])) if a != b]
            where = ""
            if cfg is not None and len(beats) == len(job["y"]):
                from golden_model.streams import unpack_y
                rq = bool((job.get("requant") or 0) & regmap.REQUANT_EN)
                got = unpack_y(beats, job["M"], job["N"], cfg, requant=rq)
                exp = unpack_y(job["y"], job["M"], job["N"], cfg, requant=rq)
                m, n = (int(v) for v in np.argwhere(got != exp)[0])
                where = f"; first Y[{m},{n}]: RTL {got[m, n]} vs golden {exp[m, n]}"
            problems.append(f"y differs from the golden result: {len(beats)} beats "
                            f"(expected {len(job['y'])}), first differing beats {bad[:5]}{where}")
    if counters["cycles"] != busy_cycles:
        problems.append(f"cycles counter {counters['cycles']} != busy cycles {busy_cycles}")
    exp = job["counters"]
    diff = {k: (counters.get(k), exp[k]) for k in exp
            if counters[k] != exp[k] and (check_cycles or k != "cycles")}
    low = job.get("min_cycles", exp["cycles"])
    if not check_cycles and counters["cycles"] < low:
        diff["cycles"] = (counters["cycles"], low)
    if diff:
        problems.append(f"counters (rtl, golden): {diff}")
    return problems


def max_polls(timeout_cycles: int) -> int:
    """STATUS polls within ``timeout_cycles`` (a poll and its wait take about
    ``2 * POLL_CYCLES`` cycles)."""
    return max(1, int(timeout_cycles) // (2 * POLL_CYCLES))


def register_writes(*, mode_code, r, z, L, M, K, N, requant=None) -> list:
    """The register writes that program one GEMM, in order: ``(name, address, value)``;
    REQUANT last when ``requant`` (the job's REQUANT value) is not None — builds with the
    requantization stage write it for every GEMM, so EN never carries over."""
    writes = [("MODE", regmap.MODE, mode_code), ("RVAL", regmap.RVAL, r), ("ZP", regmap.ZP, z),
              ("SPLIT", regmap.SPLIT, L), ("DIM_M", regmap.DIM_M, M), ("DIM_K", regmap.DIM_K, K),
              ("DIM_N", regmap.DIM_N, N)]
    if requant is not None:
        writes.append(("REQUANT", regmap.REQUANT, requant))
    return writes


class Port(Protocol):
    """What :class:`CoreHost` needs of a transport to one core.

    Attributes
    ----------
    busy_cycles : int
        Clock cycles with the core's ``busy`` output high since the port started (the host's
        own count, compared with the ``cycles`` counter).
    """

    busy_cycles: int

    async def write(self, addr: int, value: int) -> int:
        """AXI4-Lite write of a 32-bit word; returns BRESP."""

    async def read(self, addr: int) -> tuple:
        """AXI4-Lite read; returns ``(data, RRESP)``."""

    async def ticks(self, n: int) -> None:
        """Let ``n`` clock cycles pass."""

    def send(self, stream: str, beats: list, lasts: list | None = None) -> None:
        """Queue ``beats`` (ints) on input stream ``stream`` without waiting, with TLAST on the
        beats whose ``lasts`` flag is set (:func:`stream_lasts`; None: one frame,
        ``frame_lasts(len(beats))``)."""

    def source_idle(self, stream: str) -> bool:
        """True when every beat queued on ``stream`` was taken by the core."""

    async def take_y(self, timeout_cycles: int) -> list:
        """Wait up to ``timeout_cycles`` for a ``y`` beat with ``tlast``; returns every beat
        received since the last call as ``(data, last)`` pairs (also when none had tlast)."""

    def y_valid(self) -> bool:
        """The core's ``y.tvalid`` now."""

    def irq(self) -> bool:
        """The core's ``irq`` output now."""

    def flush(self) -> None:
        """Drop everything queued or in flight on the host side (after an error or abort)."""


class CoreHost:
    """The GEMM procedure of one core, over ``port``.

    Parameters
    ----------
    port : Port
    cfg : PanaceaConfig
        The design behind the port (checked against INFO and KMAX by :meth:`check_identity`).
    """

    def __init__(self, port: Port, cfg):
        self.port = port
        self.cfg = cfg

    @property
    def busy_cycles(self) -> int:
        return self.port.busy_cycles

    # ---- registers ------------------------------------------------------------------------
    async def write(self, addr, value) -> int:
        return await self.port.write(addr, int(value))

    async def write_ok(self, addr, value):
        resp = await self.write(addr, value)
        assert resp == RESP_OKAY, f"write {int(value):#x} to {addr:#x}: resp {resp:#b}"

    async def read(self, addr) -> int:
        data, resp = await self.port.read(addr)
        assert resp == RESP_OKAY, f"read {addr:#x}: resp {resp:#b}"
        return data

    async def status(self) -> dict:
        return regmap.decode_status(await self.read(regmap.STATUS))

    async def counters(self) -> dict:
        return {name: await self.read(regmap.COUNTER_ADDR[name])
                for name in counter_names(self.cfg)}

    async def check_identity(self):
        """INFO and KMAX must say the core is a build of ``cfg``."""
        info = await self.read(regmap.INFO)
        assert info == regmap.info_value(self.cfg), f"INFO {info:#x}: not a build of {self.cfg.name}"
        kmax = await self.read(regmap.KMAX)
        assert kmax == self.cfg.k_max, f"KMAX {kmax} != {self.cfg.k_max}"

    async def program(self, *, mode_code, r, z, L, M, K, N, requant=None):
        for _, addr, value in register_writes(mode_code=mode_code, r=r, z=z, L=L, M=M, K=K, N=N,
                                              requant=requant):
            await self.write_ok(addr, value)

    async def start(self):
        await self.write_ok(regmap.CTRL, regmap.CTRL_START)

    async def abort(self):
        await self.write_ok(regmap.CTRL, regmap.CTRL_ABORT)

    async def wait_idle(self, timeout_cycles=200_000, *, on_poll=None) -> dict:
        """Poll STATUS every :data:`POLL_CYCLES` cycles until BUSY clears; returns the decoded
        STATUS. ``on_poll()`` is called after each busy poll (progress reports)."""
        for _ in range(max_polls(timeout_cycles)):
            st = await self.status()
            if not st["busy"]:
                return st
            await self.port.ticks(POLL_CYCLES)
            if on_poll is not None:
                on_poll()
        raise AssertionError(f"core still busy after ~{timeout_cycles} cycles")

    # ---- GEMM jobs --------------------------------------------------------------------------
    async def start_job(self, job) -> int:
        """Queue the job's streams (all ahead), program, START; returns the busy-cycle count
        at START."""
        for n in STREAMS:
            if job["streams"][n]:       # the dense variant has no ho beats
                self.port.send(n, list(job["streams"][n]), stream_lasts(job, n))
        await self.program(mode_code=job["mode_code"], r=job["r"], z=job["z"], L=job["L"],
                           M=job["M"], K=job["K"], N=job["N"], requant=job.get("requant"))
        busy0 = self.busy_cycles
        await self.start()
        return busy0

    async def run_job(self, job, *, check_cycles=True, during=None, on_poll=None):
        """Run a GEMM job and check it against the golden model's prediction.

        The checks are :func:`check_run`'s (STATUS, ``irq``, streams consumed, ``y`` and
        ``tlast``, ``cycles`` against the busy cycles seen, every counter against
        ``job["counters"]``; ``cycles`` only as a lower bound when ``check_cycles`` is false:
        stream stalls add cycles).

        ``during`` is an async callable run right after START (to poke the core mid-GEMM).

        Returns
        -------
        (beats, counters, problems)
            ``y`` beats received (ints), the counters read, and a list of what differed
            (empty when the run is exact).
        """
        busy0 = await self.start_job(job)
        if during is not None:
            await during()
        st = await self.wait_idle(status_budget(job["counters"]["cycles"]), on_poll=on_poll)
        unconsumed = [n for n in STREAMS if not self.port.source_idle(n)]
        y = []
        if st == STATUS_DONE and not unconsumed:
            y = await self.port.take_y(Y_TIMEOUT_CYCLES)
        got = await self.counters()
        problems = check_run(job, status=st, y=y, counters=got,
                             busy_cycles=self.busy_cycles - busy0, unconsumed=unconsumed,
                             irq=self.port.irq(), check_cycles=check_cycles, cfg=self.cfg)
        beats = [b for b, _ in y]
        return beats, got, problems

    async def abort_job(self, job, after) -> list:
        """Start ``job``, write CTRL.ABORT ``after`` cycles later; returns problems (the core must
        end idle with ERROR/ABORTED, or DONE if it finished first, and stop sending ``y``)."""
        await self.start_job(job)
        await self.port.ticks(after)
        await self.abort()
        st = await self.wait_idle(1000)
        problems = []
        if st["busy"] or (st["error"] and st["errcode"] != ErrorCode.ABORTED):
            problems.append(f"after ABORT: STATUS {st}")
        if not st["error"] and not st["done"]:
            problems.append(f"after ABORT: neither DONE nor ERROR ({st})")
        await self.port.ticks(8)
        if not st["done"] and self.port.y_valid():
            problems.append("y still valid after ABORT")
        self.port.flush()
        await self.port.ticks(2)
        return problems
