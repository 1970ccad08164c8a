"""The activation buffer: record/replay of one activation stream (``config.act_buffer_bytes``).

During the first column block of a GEMM the beats the core consumes from the stream pass
straight through and are written into a memory as they are taken (``record``); for every other
column block the same beats are read back from the memory instead of the stream (``replay``),
so the host sends a run's activations once (``docs/architecture.md``, "Activation buffer").
The replay offers a beat in every cycle the consumer may take one, like an always-valid
stream, so the timeline is the same as without the buffer.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["ActBuffer"]


class ActBuffer(wiring.Component):
    """Record/replay buffer of ``depth`` beats on one stream.

    Parameters
    ----------
    shape : ShapeLike
        Payload shape of the stream.
    depth : int
        Beats the buffer holds (>= 1).

    Attributes
    ----------
    i : In(stream.Signature(shape))
        From the external stream (taken only while recording).
    o : Out(stream.Signature(shape))
        To the consumer: ``i`` while recording, the memory while replaying.
    record : In(1)
        Pulse (a GEMM starts): pointer to 0, record what is consumed from the next cycle on.
    replay : In(1)
        Pulse (a later column block starts): pointer to 0, replay the recorded beats.
    overflow : Out(1)
        Recording, the buffer full and a beat offered to a ready consumer: it is not taken
        (``i.ready`` stays low) and the sequencer ends the GEMM with an error, so nothing hangs.
    wrote, read : Out(1)
        A beat was written (recorded) / replayed this cycle (counters).
    """

    def __init__(self, shape, depth: int):
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._shape, self._depth = shape, depth
        super().__init__({
            "i": In(stream.Signature(shape)),
            "o": Out(stream.Signature(shape)),
            "record": In(1), "replay": In(1),
            "overflow": Out(1), "wrote": Out(1), "read": Out(1),
        })

    def elaborate(self, platform):
        depth = self._depth
        m = Module()
        m.submodules.mem = mem = Memory(shape=self._shape, depth=depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port()                 # synchronous read: data = mem[addr of last cycle]
        ptr = Signal(range(depth + 1))       # next beat to record / replay
        count = Signal(range(depth + 1))     # beats recorded
        replaying = Signal()
        full = Signal()
        ptr_next = Signal(range(depth + 1))
        m.d.comb += full.eq(ptr == depth)
        with m.If(replaying):
            m.d.comb += [
                self.o.valid.eq(ptr != count),
                self.o.payload.eq(rd.data),
                self.read.eq(self.o.valid & self.o.ready),
            ]
        with m.Else():
            m.d.comb += [
                self.o.valid.eq(self.i.valid & ~full),
                self.o.payload.eq(self.i.payload),
                self.i.ready.eq(self.o.ready & ~full),
                self.wrote.eq(self.i.valid & self.i.ready),
                self.overflow.eq(self.i.valid & self.o.ready & full),
            ]
        m.d.comb += [wr.addr.eq(ptr), wr.data.eq(self.i.payload), wr.en.eq(self.wrote)]
        # the read port is addressed with the next pointer, so its data is mem[ptr] in every
        # cycle of a replay (the recorded beats were written blocks earlier)
        with m.If(self.record | self.replay):
            m.d.comb += ptr_next.eq(0)
        with m.Else():
            m.d.comb += ptr_next.eq(ptr + (self.wrote | self.read))
        m.d.comb += rd.addr.eq(ptr_next)
        m.d.sync += ptr.eq(ptr_next)
        with m.If(self.record):
            m.d.sync += replaying.eq(0)
        with m.If(self.replay):
            m.d.sync += replaying.eq(1)
            with m.If(~replaying):
                m.d.sync += count.eq(ptr)
        return m
