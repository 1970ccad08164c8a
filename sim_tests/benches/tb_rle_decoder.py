"""cocotb bench of the RLE decoder (generated Verilog), driven from golden-model data.

The pytest driver (``sim_tests/test_rle_decoder_cocotb.py``) writes a JSON job (path in the
environment variable ``RLE_JOB``): the config widths and a list of passes, each with its RLE
words, K, the dense flag, random valid gaps and the expected result from
``golden_model.formats.rle_decode`` (literals, words consumed, finished, error code). The
bench streams each pass, checks every literal and ``skipped`` output, the cycle after which
``finished``/``error`` rise, that nothing is accepted after them, and restarts between
passes; a second test resets the core in the middle of a pass.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


def load_job():
    with open(os.environ["RLE_JOB"]) as f:
        return json.load(f)


def unpack(word, width, lanes):
    mask = (1 << width) - 1
    return [(word >> (i * width)) & mask for i in range(lanes)]


async def start(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for name in ("words__valid", "words__payload", "restart", "active", "k_len", "dense"):
        getattr(dut, name).value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def run_pass(dut, job, case, rng, *, stop_after=None):
    """Stream one pass; inputs change at the falling edge, outputs are sampled in ReadOnly.

    Returns the record (literals, skipped per accepted word, accepted words, flags).
    ``stop_after`` ends the pass after that many cycles (for the reset test).
    """
    G, H = job["group_size"], job["ho_bits"]
    words, p_valid = case["words"], case["p_valid"]
    dut.k_len.value = case["K"]
    dut.dense.value = int(case["dense"])
    # a pass starts with a restart while K is in place (the decoder latches K - k then)
    dut.words__valid.value = 0
    dut.active.value = 0
    dut.restart.value = 1
    await FallingEdge(dut.clk)
    dut.restart.value = 0
    rec = {"lits": [], "skipped": [], "accepted": 0}
    i, cycle, last_accept, done_at = 0, 0, None, None
    while True:
        valid = i < len(words) and rng.random() < p_valid
        dut.active.value = 1
        dut.words__valid.value = int(valid)
        dut.words__payload.value = words[i] if valid else rng.getrandbits(job["word_bits"])
        await ReadOnly()
        ready = int(dut.words__ready.value)
        fin, err = int(dut.finished.value), int(dut.error.value)
        assert ready == int(not fin and not err), f"cycle {cycle}: ready={ready} fin={fin} err={err}"
        if (fin or err) and done_at is None:
            done_at = cycle
            assert last_accept == cycle - 1, "finished/error must rise the cycle after its word"
        took = bool(ready and valid)
        assert int(dut.word_valid.value) == int(took)
        if took:
            if int(dut.lit_valid.value):
                rec["lits"].append([int(dut.lit_tile.value), int(dut.lit_k.value),
                                    unpack(int(dut.lit_ah.value), H, G)])
            rec["skipped"].append(int(dut.skipped.value))
            i += 1
            last_accept = cycle
        else:
            assert int(dut.lit_valid.value) == 0 and int(dut.skipped.value) == 0
        await FallingEdge(dut.clk)
        cycle += 1
        if stop_after is not None and cycle >= stop_after:
            break
        if done_at is not None and cycle >= done_at + 3:
            break
        if done_at is None and i >= len(words) and cycle > last_accept + 3:
            break
    rec["accepted"] = i
    rec["finished"] = int(dut.finished.value)
    rec["error"] = int(dut.error.value)
    rec["error_code"] = int(dut.error_code.value)
    return rec


async def restart(dut):
    dut.words__valid.value = 0
    dut.active.value = 0
    dut.restart.value = 1
    await FallingEdge(dut.clk)
    dut.restart.value = 0
    await ReadOnly()
    assert int(dut.finished.value) == 0 and int(dut.error.value) == 0
    assert int(dut.error_code.value) == 0
    await FallingEdge(dut.clk)


def check(case, rec):
    exp = case["expect"]
    name = case["name"]
    assert rec["accepted"] == exp["consumed"], (name, rec["accepted"], exp["consumed"])
    assert rec["finished"] == int(exp["finished"]), name
    assert rec["error"] == int(exp["code"] != 0), name
    assert rec["error_code"] == exp["code"], (name, rec["error_code"], exp["code"])
    assert rec["lits"] == exp["lits"], name
    assert rec["skipped"] == exp["skipped"], name


@cocotb.test()
async def test_passes(dut):
    """Every pass of the job, restart in between: literals, runs, finish and errors."""
    job = load_job()
    rng = random.Random(job["seed"])
    await start(dut)
    n_err = 0
    for case in job["cases"]:
        rec = await run_pass(dut, job, case, rng)
        check(case, rec)
        n_err += rec["error"]
        await restart(dut)
    assert n_err >= 1, "the job must contain a malformed stream"
    dut._log.info("%d passes checked (%d malformed)", len(job["cases"]), n_err)


@cocotb.test()
async def test_reset_mid_pass(dut):
    """A synchronous reset in the middle of a pass, then a good pass decodes exactly."""
    job = load_job()
    rng = random.Random(job["seed"] + 1)
    await start(dut)
    good = next(c for c in job["cases"] if c["expect"]["finished"] and len(c["words"]) > 4)
    await run_pass(dut, job, good, rng, stop_after=len(good["words"]) // 2)
    dut.rst.value = 1
    dut.words__valid.value = 0
    dut.active.value = 0
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    await ReadOnly()
    assert int(dut.finished.value) == 0 and int(dut.error.value) == 0
    await FallingEdge(dut.clk)
    check(good, await run_pass(dut, job, good, rng))
