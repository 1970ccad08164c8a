"""The documented PEA contract in plain integers, and the harness that compares a PEA with it.

One reference for what :class:`~panacea_hdl.rtl.pea.pea.PEA` and :class:`~panacea_hdl.rtl.pea.int8_pea.Int8PEA`
share — the accumulators (an issue in cycle t lands at the edge ending t + ``MAC_STAGES``; an
init, from ``acc_clear`` or a LOAD write ``TERM_LATENCY`` cycles earlier, sets them to the
term plus the MAC landing at the same edge) and the compensation term (a write or clear in cycle t
reaches it at the edge ending t + ``TERM_LATENCY`` - 1) — with whole-weight arithmetic, no
slicing. The subclasses in ``test_pea.py`` and ``test_int8_pea.py`` say what an issue computes.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from amaranth.sim import Simulator

from golden_model.formats import pack_lanes, unpack_lanes
from panacea_hdl.rtl.pea.compensator import TERM_LATENCY
from panacea_hdl.rtl.lanes import MAC_STAGES


def wrap32(x):
    """Python ints (or an int array) as signed 32-bit two's complement."""
    return ((np.asarray(x, dtype=object) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int64)


class AccumulatorContract:
    """Cycle model of the accumulators and the compensation term of one PE array.

    Subclasses set :attr:`factor` (the term's ``(s << L) - z``, or ``-z``) and implement
    :meth:`issue`. Inputs ``w_we``, ``w_addr``, ``w_data``, ``comp_clear`` and ``acc_clear``
    are the PEAs' own.
    """

    factor = 0

    def __init__(self, cfg):
        self.cfg = cfg
        self.rows, self.cols = cfg.rows_per_pass, cfg.pea_cols
        self.wbuf = np.zeros((cfg.k_max, self.cols), dtype=np.int64)
        self.acc = np.zeros((self.rows, self.cols), dtype=np.int64)
        self.term = np.zeros(self.cols, dtype=np.int64)
        # in flight, oldest first: the MAC products of the issues of the last MAC_STAGES
        # cycles, the compensator writes/clears of the last TERM_LATENCY cycles
        self.macs = deque([[] for _ in range(MAC_STAGES)])
        self.comp = deque([None] * TERM_LATENCY)

    def issue(self, c: dict) -> list:
        """The ``rows x cols`` products of the MACs issued with the inputs ``c``."""
        raise NotImplementedError

    def y(self):
        return self.acc.reshape(-1).copy()

    def step(self, c: dict):
        """Advance over one clock edge with the inputs ``c`` of the cycle ending there."""
        # the read ports return the rows as they are before this cycle's write
        landing = self.macs.popleft()                 # issued MAC_STAGES cycles ago
        self.macs.append(self.issue(c))

        w_data = np.asarray(c.get("w_data", np.zeros(self.cols)), dtype=np.int64)
        op = None
        if c.get("w_we") or c.get("comp_clear"):
            op = (bool(c.get("comp_clear")), bool(c.get("w_we")), self.factor * w_data)
        init_op = self.comp.popleft()                 # written TERM_LATENCY cycles ago
        term_op = self.comp[0]                        # written TERM_LATENCY - 1 cycles ago
        self.comp.append(op)

        # accumulators: from the term (register value before this edge) at an init, else from
        # themselves, plus the MAC landing at this edge in both cases
        base = np.tile(self.term, (self.rows, 1)) if (c.get("acc_clear") or init_op is not None) else self.acc
        self.acc = wrap32(base + sum(landing, np.zeros_like(self.acc)))
        if term_op is not None:
            clear, load, fw = term_op
            if clear:
                self.term = wrap32(fw) if load else np.zeros_like(self.term)
            else:
                self.term = wrap32(self.term + fw)
        if c.get("w_we"):
            self.wbuf[c["w_addr"]] = w_data


def model_trace(model, program):
    """``y`` of ``model`` in every cycle of ``program``, plus after it."""
    out = []
    for c in program:
        out.append(model.y())
        model.step(c)
    out.append(model.y())
    return np.array(out)


def simulate_program(dut, program, *, scalars, arrays, fixed=()):
    """Run ``program`` (one dict of inputs per cycle) on ``dut``; ``y`` of every cycle + after.

    ``scalars`` names the 1-bit or integer inputs (0 when a cycle leaves them out), ``arrays``
    maps each array input to ``(lane bits, lanes)`` (all-zero lanes when left out); ``fixed``
    holds ``(signal, value)`` pairs set once before the first cycle.
    """
    cfg = dut.config
    lanes = cfg.rows_per_pass * cfg.pea_cols
    raw = {n: getattr(dut, n).as_value() for n in (*arrays, "y")}
    trace = []

    async def tb(ctx):
        for sig, value in fixed:
            ctx.set(sig, value)
        for c in program:
            for name in scalars:
                ctx.set(getattr(dut, name), c.get(name, 0))
            for name, (bits, n) in arrays.items():
                ctx.set(raw[name], pack_lanes(c.get(name, [0] * n), bits))
            trace.append(ctx.get(raw["y"]))
            await ctx.tick()
        trace.append(ctx.get(raw["y"]))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return np.array([unpack_lanes(v, 32, lanes, signed=True) for v in trace])


def assert_traces_equal(got, want, what=""):
    assert got.shape == want.shape
    bad = np.argwhere(got != want)
    if bad.size:
        cyc, lane = bad[0]
        raise AssertionError(f"{what}: first mismatch in cycle {cyc}, lane {lane}: "
                             f"got {got[cyc, lane]}, expected {want[cyc, lane]} "
                             f"({len(bad)} mismatching lane-cycles)")
