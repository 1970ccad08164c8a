# amaranth: UnusedElaboratable=no
"""Formal proofs of the control logic (issue 9): SymbiYosys with the ``smtbmc z3`` engine.

Each test runs one sby job on a harness of :mod:`sim_tests.formal.harnesses` (the real RTL
blocks, free inputs, ``Assume`` for the protocol, ``Assert`` for the property) and fails
with sby's log (which names the failing assertion and its trace) unless sby reports PASS.
``mode prove`` is k-induction: the property holds in every reachable state. ``mode bmc`` is
bounded: no trace of at most ``depth`` cycles from reset violates it; each docstring says
why that depth is meaningful. Measured times are in ``docs/verification.md``.

The arithmetic (the lanes' slice products, accumulators, compensation terms) is not proved
here: the solver does not finish on multipliers; its equivalence with the golden model is
checked by the simulation tests (``sim_tests/unit/test_pea_blocks.py`` and others).
"""

from __future__ import annotations

import linecache
import re
from pathlib import Path

import pytest
from amaranth.hdl import Assert, Elaboratable, Module, Signal

from . import harnesses
from .sby import missing_tools, run_sby

_MISSING = missing_tools()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=f"formal tools: {_MISSING}")


def failed_properties(log):
    """The source lines of the assertions sby reports as failed (it names file:line only)."""
    lines = []
    for path, line in re.findall(r"Assert failed in \S+: (\S+\.py):(\d+)", log):
        lines.append(f"{Path(path).name}:{line}: {linecache.getline(path, int(line)).strip()}")
    return "\n".join(dict.fromkeys(lines))


def prove(harness, tmp_path, *, mode, depth, script_extra="flatten"):
    """Run sby on ``harness`` in ``tmp_path``; fail with its log unless it reports PASS."""
    result = run_sby(harness, tmp_path, name="proof", mode=mode, depth=depth,
                     script_extra=script_extra)
    assert result.passed, (f"sby {mode} depth {depth}: {result.status} after "
                           f"{result.seconds:.1f} s (work dir {tmp_path})\n"
                           f"{failed_properties(result.log)}\n{result.log[-6000:]}")
    return result


# ---- the flow itself: a false property must be reported -------------------------------------
class _Overflow(Elaboratable):
    """A 3-bit counter that claims never to reach 5 (false from cycle 5 on)."""

    def elaborate(self, platform):
        m = Module()
        harnesses.no_reset(m)
        count = Signal(3)
        m.d.sync += count.eq(count + 1)
        m.d.comb += Assert(count != 5, "counter reached 5")
        return m


def test_flow_reports_a_false_property(tmp_path):
    """sby returns FAIL (not PASS, not ERROR) for a property that breaks at cycle 5."""
    result = run_sby(_Overflow(), tmp_path, name="false", mode="bmc", depth=8)
    assert result.status == "FAIL" and not result.passed, result.log[-3000:]
    assert "Assert failed" in result.log


# ---- RLE decoder ---------------------------------------------------------------------------
def test_rle_decoder(tmp_path):
    """RLE decoder: no hang, never past K, every malformed word flagged with its class.

    ``mode bmc``, depth 12, on ``harnesses.SMALL`` (K <= 3). A pass is at most
    2 (K + 1) = 8 accepted words and stall cycles change no state, so every reachable state
    of the decoder and its monitor is reached within 10 cycles (a restart and 8 words): the
    bound covers the reachable states, so this is a complete proof for this config.
    k-induction does not converge: the decoder's ``rem = K - k`` register is not observable
    while no word is accepted, and a stalled stream can stay idle for any number of cycles.
    """
    prove(harnesses.RLEDecoderHarness(), tmp_path, mode="bmc", depth=12)


# ---- AXI4-Lite -----------------------------------------------------------------------------
def test_axi_lite_one_response_per_request(tmp_path):
    """AXI4-Lite: exactly one B per AW+W and one R per AR, responses held until ready.

    ``mode bmc``, depth 16. The bus side of the CSR block has 5 state bits (AW, W and AR
    latched, B and R pending); every combination is reached within 6 cycles, and the
    register contents never change the handshakes. k-induction does not converge: while a
    response waits for a manager that never takes it, the latched-request bits are hidden.
    """
    prove(harnesses.AXILiteHarness(), tmp_path, mode="bmc", depth=16)


# ---- performance counters ------------------------------------------------------------------
def test_counters_monotone_unless_cleared(tmp_path):
    """CSR counters never decrease unless ``counters_clear`` (``mode prove``, k-induction, 2)."""
    prove(harnesses.CounterHarness(), tmp_path, mode="prove", depth=2)


def test_core_clears_counters_only_while_idle(tmp_path):
    """The core raises ``counters_clear`` only while idle (``mode prove``, k-induction, 2).

    With :func:`test_counters_monotone_unless_cleared`: the counters never decrease during a
    GEMM (from START to DONE, ERROR or ABORT; ABORT does not clear them).
    """
    h = harnesses.CoreHarness(check="counters")
    prove(h, tmp_path, mode="prove", depth=2, script_extra=h.script())


# ---- the core's y stream and ERR_WORD ------------------------------------------------------
def test_core_y_stream_holds_until_ready(tmp_path):
    """``y`` holds tvalid, tdata and tlast until tready, also across ERROR and ABORT.

    ``mode bmc``, depth 20, PEAs cut out, parameter registers free at reset. The covers reach
    a GEMM's last ``y`` beat, and a first pass's row stalled while the second pass runs, at
    cycle 13, so the bound includes an ABORT or a malformed word while a beat waits.
    k-induction does not converge (the HANDOFF flag and the bank count are not observable).
    """
    h = harnesses.CoreHarness(check="y_stream")
    prove(h, tmp_path, mode="bmc", depth=20, script_extra=h.script())


def test_core_err_word_is_the_malformed_word(tmp_path):
    """ERR_WORD is the index of the malformed RLE word in the GEMM's ``ho`` stream, and of the
    first missing word when a pass's ``ho`` frame is cut short (HO_TRUNCATED).

    ``mode bmc``, depth 16: the covers reach an RLE error at cycle 6 and one in the GEMM's
    second pass at cycle 15.
    """
    h = harnesses.CoreHarness(check="err_word")
    prove(h, tmp_path, mode="bmc", depth=16, script_extra=h.script())


# ---- the bounds are not vacuous: the interesting states are reached --------------------------
COVERS = {
    "rle_decoder": (harnesses.RLEDecoderHarness, {}, 12),
    "axi_lite": (harnesses.AXILiteHarness, {}, 16),
    "core_y_stream": (harnesses.CoreHarness, {"check": "y_stream"}, 20),
    "core_err_word": (harnesses.CoreHarness, {"check": "err_word"}, 16),
}


@pytest.mark.parametrize("name", COVERS)
def test_bounds_reach_the_covered_states(tmp_path, name):
    """Every ``Cover`` of a BMC harness is reached within its BMC depth (``mode cover``).

    Decoder: a pass finished at K = k_max, and an OVERRUN; AXI4-Lite: an OKAY write and
    read response taken; core: the last ``y`` beat of a GEMM taken, a row waiting while the
    second pass runs, an RLE error in the first and in the second pass.
    """
    cls, kwargs, depth = COVERS[name]
    h = cls(**kwargs)
    script = h.script() if isinstance(h, harnesses.CoreHarness) else "flatten"
    prove(h, tmp_path, mode="cover", depth=depth, script_extra=script)


# ---- deeper bounds (--run-slow) ------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("check, depth", [("y_stream", 30), ("err_word", 22)])
def test_core_deep(tmp_path, check, depth):
    """The core properties to deeper bounds (~1 min each; ERR_WORD at 26 takes > 6 min)."""
    h = harnesses.CoreHarness(check=check)
    prove(h, tmp_path, mode="bmc", depth=depth, script_extra=h.script())


@pytest.mark.slow
def test_axi_lite_deep(tmp_path):
    """AXI4-Lite to depth 30."""
    prove(harnesses.AXILiteHarness(), tmp_path, mode="bmc", depth=30)
