# amaranth: UnusedElaboratable=no
"""Amaranth-simulator test of :class:`panacea_hdl.rtl.sequencer.Sequencer` on its own.

Around it: a stand-in controller that issues for K cycles and reports ``pass_done`` in the
next one, or chains the next pass in the K-th cycle when the sequencer allows it (``chain``) (what the skip controller does when every vector is skipped or in dense mode), an
always-ready weight stream, the real :class:`~panacea_hdl.rtl.output_bank.OutputBank` with a sink
that takes a beat with probability ``p_ready``. With ``p_ready`` = 1 the busy cycles must
equal :func:`golden_model.cycle_model.predict` for the INT8 array (passes of K cycles); the
beats must be the GEMM's M rows per column block, the last one flagged; ABORT and BAD_PARAM
follow ``docs/registers.md``.
"""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.sim import Simulator

from golden_model.aqs_gemm import aqs_gemm
from golden_model.config import preset
from golden_model.cycle_model import predict
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl.rtl.output_bank import OutputBank
from panacea_hdl.regmap import ErrorCode
from panacea_hdl.rtl.sequencer import Sequencer

CFG = preset("tiny_dense")


class _Harness(wiring.Component):
    def __init__(self, cfg):
        self.cfg = cfg
        self.seq = Sequencer(config=cfg)
        self.bank = OutputBank(config=cfg)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        seq, bank = self.seq, self.bank
        m.submodules.seq, m.submodules.bank = seq, bank
        active_count = Signal(32)
        with m.If(seq.ctrl_restart | seq.pass_chain):
            m.d.sync += active_count.eq(0)
        with m.Elif(seq.ctrl_active):
            m.d.sync += active_count.eq(active_count + 1)
        m.d.comb += [
            seq.pass_done.eq(seq.ctrl_active & (active_count == seq.k_len)),
            # the pass overlap: with chain, restart in the cycle of the K-th issue
            seq.pass_chain.eq(seq.chain & seq.ctrl_active & (active_count + 1 == seq.k_len)),
            seq.w_valid.eq(1),
            seq.bank_empty.eq(bank.empty),
            seq.bank_done.eq(bank.y.valid & bank.y.ready & bank.y_last),
            bank.load.eq(seq.handoff), bank.load_count.eq(seq.pass_rows),
            bank.load_last.eq(seq.pass_last), bank.flush.eq(seq.flush),
        ]
        return m


def _run(M, K, N, *, p_ready=1.0, abort_at=None, bad=False, seed=0):
    h = _Harness(CFG)
    seq, bank = h.seq, h.bank
    rng = random.Random(seed)
    out = {"beats": 0, "lasts": 0, "busy": 0}

    async def tb(ctx):
        ctx.set(seq.k_len, K)
        ctx.set(seq.dim_m, M)
        ctx.set(seq.dim_n, N)
        ctx.set(seq.bad_param, bad)
        ctx.set(seq.start, 1)
        await ctx.tick()
        ctx.set(seq.start, 0)
        if bad:
            assert not ctx.get(seq.busy) and ctx.get(seq.error)
            assert ctx.get(seq.errcode) == ErrorCode.BAD_PARAM
            out["errcode"] = ctx.get(seq.errcode)
            return
        cycle = 0
        while ctx.get(seq.busy):
            ready = rng.random() < p_ready
            ctx.set(bank.y.ready, ready)
            if abort_at is not None and cycle == abort_at:
                ctx.set(seq.abort, 1)
            if ctx.get(bank.y.valid) and ready:
                out["beats"] += 1
                out["lasts"] += ctx.get(bank.y_last)
            out["busy"] += 1
            cycle += 1
            await ctx.tick()
            ctx.set(seq.abort, 0)
            assert cycle < 100_000
        out.update(done=ctx.get(seq.done), error=ctx.get(seq.error),
                   errcode=ctx.get(seq.errcode))

    sim = Simulator(h)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return out


@pytest.mark.parametrize("M, K, N", [(1, 1, 1), (3, 5, 2), (9, 17, 11), (4, 64, 4), (13, 2, 30)])
def test_cycles_equal_the_cycle_model(M, K, N):
    A = skewed_activations(M, K, seed=M)
    W = random_weights(K, N, seed=N)
    _, plan = aqs_gemm(A, W, 100, mode="dense", L=4, r=0, cfg=CFG)
    want = predict(plan, N, CFG).counters
    got = _run(M, K, N)
    assert got["busy"] == want["cycles"]
    assert got["beats"] == want["ext_out_words"] == M * -(-N // CFG.cols)
    assert got["lasts"] == 1 and got["done"] and not got["error"]


@pytest.mark.parametrize("M, K, N, slower", [(9, 17, 11, False), (13, 2, 30, True)])
def test_stalled_sink_only_adds_cycles(M, K, N, slower):
    """A slow sink never loses or repeats a beat; it costs cycles only when the bank's
    sending is longer than the next pass (short K), else the bank overlaps it."""
    base = _run(M, K, N)
    for seed in range(3):
        got = _run(M, K, N, p_ready=0.4, seed=seed)
        assert got["beats"] == base["beats"] and got["lasts"] == 1 and got["done"]
        assert got["busy"] > base["busy"] if slower else got["busy"] >= base["busy"]


@pytest.mark.parametrize("at", [0, 3, 20, 60])
def test_abort_from_any_state(at):
    got = _run(9, 17, 11, abort_at=at)
    assert got["error"] and not got["done"] and got["errcode"] == ErrorCode.ABORTED
    assert got["busy"] == at + 1
    assert got["lasts"] == 0


def test_bad_param_stays_idle():
    assert _run(3, 5, 2, bad=True)["errcode"] == ErrorCode.BAD_PARAM
