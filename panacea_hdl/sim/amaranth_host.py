"""The Amaranth-simulator port of :class:`panacea_hdl.sim.host.CoreHost`.

:class:`AmaranthPort` drives a :class:`panacea_hdl.rtl.top.PanaceaCore` (or any component with
the same ``csr``/``w``/``lo``/``ho``/``y`` signature) in :class:`amaranth.sim.Simulator`:
an AXI4-Lite manager (:func:`axil_write`, :func:`axil_read`), one source testbench per input
stream with random stalls (``tlast`` per frame; random, ignored, on ``w``), a ``y`` sink with random
back-pressure, and a monitor of ``busy``. :func:`simulate` runs a main coroutine against a
:class:`~panacea_hdl.sim.host.CoreHost` on that port.
"""

from __future__ import annotations

import random
from collections import deque

from amaranth.sim import Simulator

from panacea_hdl.rtl.axi import RESP_OKAY
from panacea_hdl.sim.host import STREAMS, CoreHost, frame_lasts

__all__ = ["AmaranthPort", "simulate", "axil_write", "axil_read", "axil_write_ok", "axil_read_ok"]


async def axil_write(ctx, bus, addr, value, strb=0xF, *, w_first=0, b_delay=0):
    """Write ``value`` to ``addr``; returns BRESP.

    ``w_first`` > 0 presents W that many cycles before AW (< 0: AW first); ``b_delay`` holds
    BREADY low for that many cycles of a pending response.
    """
    aw_wait, w_wait = max(0, w_first), max(0, -w_first)
    ctx.set(bus.awaddr, addr)
    ctx.set(bus.wdata, value)
    ctx.set(bus.wstrb, strb)
    aw_done = w_done = False
    if w_wait == 0:
        ctx.set(bus.wvalid, 1)
    if aw_wait == 0:
        ctx.set(bus.awvalid, 1)
    ctx.set(bus.bready, b_delay == 0)
    cycle = 0
    for _ in range(1000):
        _, _, awv, awr, wv, wr, bv, br, bresp = await ctx.tick().sample(
            bus.awvalid, bus.awready, bus.wvalid, bus.wready, bus.bvalid, bus.bready, bus.bresp)
        cycle += 1
        if awv and awr:
            aw_done = True
            ctx.set(bus.awvalid, 0)
        if wv and wr:
            w_done = True
            ctx.set(bus.wvalid, 0)
        if bv and br:
            ctx.set(bus.bready, 0)
            assert aw_done and w_done, "write response before the address and data were accepted"
            return bresp
        if bv:
            b_delay -= 1
            if b_delay <= 0:
                ctx.set(bus.bready, 1)
        if not aw_done and cycle >= aw_wait:
            ctx.set(bus.awvalid, 1)
        if not w_done and cycle >= w_wait:
            ctx.set(bus.wvalid, 1)
    raise AssertionError(f"AXI4-Lite write to {addr:#x} hung")


async def axil_read(ctx, bus, addr, *, r_delay=0):
    """Read ``addr``; returns ``(rdata, rresp)``."""
    ctx.set(bus.araddr, addr)
    ctx.set(bus.arvalid, 1)
    ctx.set(bus.rready, r_delay == 0)
    ar_done = False
    for _ in range(1000):
        _, _, arv, arr, rv, rr, rdata, rresp = await ctx.tick().sample(
            bus.arvalid, bus.arready, bus.rvalid, bus.rready, bus.rdata, bus.rresp)
        if arv and arr:
            ar_done = True
            ctx.set(bus.arvalid, 0)
        if rv and rr:
            ctx.set(bus.rready, 0)
            assert ar_done, "read data before the address was accepted"
            return rdata, rresp
        if rv:
            r_delay -= 1
            if r_delay <= 0:
                ctx.set(bus.rready, 1)
    raise AssertionError(f"AXI4-Lite read of {addr:#x} hung")


async def axil_read_ok(ctx, bus, addr):
    data, resp = await axil_read(ctx, bus, addr)
    assert resp == RESP_OKAY, f"read of {addr:#x} answered {resp:#b}"
    return data


async def axil_write_ok(ctx, bus, addr, value):
    resp = await axil_write(ctx, bus, addr, value)
    assert resp == RESP_OKAY, f"write of {value:#x} to {addr:#x} answered {resp:#b}"


class AmaranthPort:
    """Stream sources/sink, register access and a busy monitor for one simulated core.

    Parameters
    ----------
    dut : PanaceaCore
    seed : int
        Seed of the stall and ``tlast`` choices.

    The port is bound to the main testbench's context by :func:`simulate` (``ctx``).
    """

    def __init__(self, dut, *, seed=0):
        self.dut = dut
        self.ctx = None
        self.rng = random.Random(seed)
        self.queues = {n: deque() for n in STREAMS}
        self.stall = {n: 0.0 for n in (*STREAMS, "y")}
        self.y = []                       # (beat, tlast) received, not yet taken
        self.generation = 0               # bumped by flush(): sources drop the beat they hold
        self.busy_cycles = 0              # cycles with busy = 1

    def set_stalls(self, p):
        """Probability that a source withholds a beat / the sink withholds ready, per cycle."""
        for n in self.stall:
            self.stall[n] = p

    # ---- Port ---------------------------------------------------------------------------------
    async def write(self, addr, value):
        return await axil_write(self.ctx, self.dut.csr, addr, value)

    async def read(self, addr):
        return await axil_read(self.ctx, self.dut.csr, addr)

    async def ticks(self, n):
        for _ in range(n):
            await self.ctx.tick()

    def send(self, stream, beats, lasts=None):
        beats = list(beats)
        if lasts is None:
            lasts = frame_lasts(len(beats))
        self.queues[stream].extend(zip(beats, lasts))

    def source_idle(self, stream):
        return not self.queues[stream]

    async def take_y(self, timeout_cycles):
        for _ in range(timeout_cycles):
            if any(last for _, last in self.y):
                break
            await self.ctx.tick()
        got, self.y = self.y, []
        return got

    def y_valid(self):
        return bool(self.ctx.get(self.dut.y.tvalid))

    def irq(self):
        return bool(self.ctx.get(self.dut.irq))

    def flush(self):
        self.generation += 1
        for q in self.queues.values():
            q.clear()
        self.y = []

    # ---- testbenches --------------------------------------------------------------------------
    def testbenches(self):
        return [self._source(n) for n in STREAMS] + [self._sink(), self._busy_monitor()]

    def _source(self, name):
        async def tb(ctx):
            port = getattr(self.dut, name)
            q = self.queues[name]
            while True:
                if not q or self.rng.random() < self.stall[name]:
                    ctx.set(port.tvalid, 0)
                    await ctx.tick()
                    continue
                gen = self.generation
                beat, last = q[0]
                ctx.set(port.tdata, beat)
                ctx.set(port.tvalid, 1)
                # the packed streams are framed per pass; w ignores tlast: a random one
                ctx.set(port.tlast, last if name != "w" else self.rng.random() < 0.5)
                while True:
                    _, _, ready = await ctx.tick().sample(port.tready)
                    if ready or gen != self.generation:
                        break
                if ready and gen == self.generation:
                    q.popleft()
                ctx.set(port.tvalid, 0)
        return tb

    def _sink(self):
        async def tb(ctx):
            port = self.dut.y
            while True:
                ctx.set(port.tready, self.rng.random() >= self.stall["y"])
                _, _, v, r, d, last = await ctx.tick().sample(port.tvalid, port.tready,
                                                              port.tdata, port.tlast)
                if v and r:
                    self.y.append((int(d), int(last)))
        return tb

    def _busy_monitor(self):
        async def tb(ctx):
            async for _, _, busy in ctx.tick().sample(self.dut.busy):
                self.busy_cycles += busy
        return tb


def simulate(dut, port: AmaranthPort, cfg, main, *, extra=(), clock=1e-6):
    """Simulate ``dut`` with ``port``'s testbenches (and the background testbenches
    ``extra``) and ``await main(host, ctx)`` as the main testbench (``host`` a
    :class:`CoreHost` on ``port``); raises if ``main`` did not finish."""
    sim = Simulator(dut)
    sim.add_clock(clock)
    for tb in (*port.testbenches(), *extra):
        sim.add_testbench(tb, background=True)
    host = CoreHost(port, cfg)
    finished = []

    async def wrapped(ctx):
        port.ctx = ctx
        await main(host, ctx)
        finished.append(True)
    sim.add_testbench(wrapped)
    sim.run()
    if not finished:
        raise AssertionError("the main testbench did not finish")
