"""Cycle, event, memory and energy model of the Panacea core — the RTL matches it exactly.

Loop order (weights stationary per column block, activations streamed)::

    for block in column blocks of cfg.cols:           # LOAD: K weight beats -> weight buffers
        (overlapped LOAD, timing.load_overlaps: K <= k_max / 2 and no requantization header:
         the next block's K beats go into the other half of the weight buffer while this
         block's passes run; only the first block's LOAD is on the timeline)
        for pass in row passes of T*G rows:            # T = tiles_per_pass tiles (default 2)
            SWO: one low-order beat per cycle (K beats, all T tiles)
            DWO: one RLE word per cycle (tile 0's packet, then tile 1's, ... tile T-1's);
                 a LIT word is one DWO MAC of G rows, SKIP/END words only advance k
            if the block has a further pass and the output bank is empty in the pass's last
            issue cycle e (chained, the pass overlap):
                the next pass starts at e + 1; the copy into the bank is in e + DRAIN_CYCLES + 1,
                overlapping it (the accumulators take term + the next pass's first products)
            else:
                DRAIN: DRAIN_CYCLES (5) cycles for the last MACs (issue register, digits,
                       products, sum, accumulate)
                HANDOFF: the copy (HANDOFF_CYCLES = 1) once the bank is empty (checked in
                         the last DRAIN cycle, then in WAIT_BANK cycles), results -> output bank
        output bank: one y beat per valid row per cycle, overlapping the next pass

With an activation buffer (``cfg.act_buffer_bytes``, ``docs/architecture.md``) the ``lo``
beats and ``ho`` words of the run come from the streams during the first column block only
(``abuf_writes``, each written as it is consumed) and from the buffer for the other blocks
(``abuf_reads``); the timeline is the same (a replayed beat is always ready, as an always-valid
stream), ``ext_in_words`` and the ``lo``/``ho`` bytes count the activations once.

With every stream always valid/ready, a GEMM takes exactly :func:`predict` cycles; the
top-level testbench checks that equality. Stalls on the streams only add cycles.

By hardware variant (``cfg.variant``, ``docs/baselines.md``): ``panacea`` and ``sibia`` follow
the timeline above (``sibia`` runs only the dense and sibia modes). ``dense``, the INT8 array,
has no DWO and no ``ho`` stream: a pass is K cycles (one ``lo`` beat of whole activations per
cycle, counted as ``swo_busy``) + DRAIN + HANDOFF; ``dwo_busy``, ``rle_words`` and
``skipped_vectors`` are 0 and the work is ``int8_macs`` (energy ``int8_mult`` each) instead of
slice products.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .aqs_gemm import SlicePlan
from .config import PanaceaConfig
from .bits import ACT_BITS
from .energy import ENERGY_PJ
from .formats import (RQ_HEADER_BEATS, beat_bytes, ho_bus_bits, lo_beat_bits, lo_bus_bits, lo_vector_bits,
                      packed_beats, rle_word_bits, rle_word_count, w_beat_bits, y_row_bytes)
from .timing import DRAIN_CYCLES, HANDOFF_CYCLES, REQUANT_CYCLES, load_overlaps

__all__ = ["DRAIN_CYCLES", "HANDOFF_CYCLES", "Prediction", "predict", "pass_words", "COUNTERS",
           "ABUF_COUNTERS", "counter_names", "act_buffer_fits"]


#: Performance counters of the hardware, in register order (one definition, see docs/registers.md).
COUNTERS = (
    "cycles",          # cycles with busy = 1
    "swo_busy",        # cycles the SWO performed a MAC (one low-order beat)
    "dwo_busy",        # cycles the DWO performed a MAC (one literal vector)
    "comp_busy",       # cycles the compensator accumulated a weight row or applied its term
    "rle_words",       # RLE words decoded
    "skipped_vectors", # high-order vectors skipped (sum of runs)
    "wbuf_writes",     # weight-buffer row writes
    "wbuf_reads",      # weight-buffer row reads (SWO + DWO)
    "ext_in_words",    # bus beats accepted on w, lo and ho streams (packed lo/ho beats)
    "ext_out_words",   # y beats sent
)
#: Counters of builds with an activation buffer (``cfg.act_buffer_bytes``), after COUNTERS.
ABUF_COUNTERS = (
    "abuf_writes",     # lo beats and ho words written into the activation buffer
    "abuf_reads",      # lo beats and ho words replayed from the activation buffer
)


def counter_names(cfg: PanaceaConfig) -> tuple:
    """The performance counters of a build of ``cfg``, in register order."""
    return COUNTERS + (ABUF_COUNTERS if cfg.act_buffer_bytes else ())


def act_buffer_fits(plan: SlicePlan, cfg: PanaceaConfig) -> bool:
    """The run's ``lo`` beats and ``ho`` words fit the activation buffer (True without one:
    nothing is buffered)."""
    if not cfg.act_buffer_bytes:
        return True
    K = plan.AH.shape[1]
    passes = plan.AH.shape[0] // cfg.rows_per_pass
    words = int(pass_words(plan, cfg)[0].sum()) if cfg.caps.sliced else 0
    return passes * K <= cfg.abuf_lo_depth and words <= cfg.abuf_ho_depth


@dataclass
class Prediction:
    counters: dict
    memory: dict
    energy_pj: dict
    work: dict

    def to_dict(self):
        return {"counters": self.counters, "memory": self.memory, "energy_pj": self.energy_pj,
                "work": self.work}


def pass_words(plan: SlicePlan, cfg: PanaceaConfig):
    """Per pass: RLE words (the packets of its ``tiles_per_pass`` tiles; the DWO issues one
    a cycle), literals and skipped vectors; three int64 arrays of one entry per pass."""
    T = cfg.tiles_per_pass
    words = rle_word_count(plan.vec_skip, cfg.max_run).reshape(-1, T).sum(1)
    lits = (~plan.vec_skip).sum(1).reshape(-1, T).sum(1)
    skipped = plan.vec_skip.sum(1).reshape(-1, T).sum(1)
    return words.astype(np.int64), lits.astype(np.int64), skipped.astype(np.int64)


def predict(plan: SlicePlan, N: int, cfg: PanaceaConfig, *, requant: bool = False) -> Prediction:
    """Counters, memory traffic, work and energy of one GEMM of ``plan`` (M x K) by (K x N).

    ``requant``: the GEMM requantizes (``cfg.requant`` builds only): each block's LOAD is
    preceded by the :data:`~golden_model.formats.RQ_HEADER_BEATS` header beats on ``w`` and the
    results leave as uint8. A ``cfg.requant`` build delays every ``y`` beat by
    :data:`~golden_model.timing.REQUANT_CYCLES`, enabled or not."""
    M, K = plan.M, plan.AH.shape[1]
    if N < 1 or M < 1 or K < 1:
        raise ValueError(f"M, K, N must be >= 1, got {M}, {K}, {N}")
    if K > cfg.k_max:
        raise ValueError(f"K={K} exceeds the weight buffer depth k_max={cfg.k_max}")
    cfg.check_mode(plan.mode)
    if requant and not cfg.requant:
        raise ValueError(f"config {cfg.name!r} has no requantization stage (requant=False)")
    header = RQ_HEADER_BEATS if requant else 0
    int8_array = not cfg.caps.sliced
    rows_pp = cfg.rows_per_pass
    blocks = math.ceil(N / cfg.cols)
    passes = plan.AH.shape[0] // rows_pp
    words, lits, skipped = pass_words(plan, cfg)
    if int8_array:          # no ho stream, no DWO: nothing decoded, nothing skipped
        words, lits, skipped = (np.zeros_like(words) for _ in range(3))
    valid_rows = [min(rows_pp, M - p * rows_pp) for p in range(passes)]
    # packed streams (formats.pack_bits, restarted at every pass): bus beats per pass
    lo_beats = packed_beats(K, lo_vector_bits(cfg, plan.L), lo_bus_bits(cfg))
    # RLE words at the run-time split: slices of 8 - L bits (formats.rle_fields_at)
    ho_beats = 0 if int8_array else sum(packed_beats(int(n), rle_word_bits(cfg, plan.L),
                                                     ho_bus_bits(cfg)) for n in words)
    abuf = bool(cfg.act_buffer_bytes)
    if not act_buffer_fits(plan, cfg):
        raise ValueError(f"the run's activations ({passes * K} lo beats, {int(words.sum())} ho "
                         f"words) exceed the activation buffer ({cfg.abuf_lo_depth} lo beats, "
                         f"{cfg.abuf_ho_depth} ho words): block M (golden_model.tiling)")
    # activation beats (lo + ho) of the run; with the buffer they come from the streams once
    act_beats = passes * K + int(words.sum())
    act_sends = 1 if abuf else blocks

    # ---- the timeline (see module docstring) --------------------------------------------
    # bank_free: the first cycle in which the output bank is empty; c: a pass's copy cycle
    # overlap: block b + 1's LOAD runs behind block b's passes (it starts with b's first pass
    # and takes K cycles, so it is done before b's last pass ends): only block 0 loads on the
    # timeline, the next block's first pass follows the HANDOFF at once
    overlap = load_overlaps(K, cfg.k_max, header)
    t, bank_free = 0, 0
    for b in range(blocks):
        if b == 0 or not overlap:
            t += header + K                                      # (requant header) LOAD
        for p in range(passes):
            e = t + max(K, int(words[p])) - 1                    # PASS: its last issue
            if p < passes - 1 and bank_free <= e:
                # chained: the next pass starts at e + 1; the copy, DRAIN_CYCLES + 1 cycles
                # after the last issue (its last MAC has landed), overlaps it
                c = e + DRAIN_CYCLES + 1
                t = e + 1
            else:
                # DRAIN (its last cycle checks the bank; WAIT_BANK while it still sends), HANDOFF
                c = max(e + DRAIN_CYCLES, bank_free) + HANDOFF_CYCLES
                t = c + 1
            bank_free = c + 1 + valid_rows[p]                    # y beats after the copy
    cycles = bank_free + (REQUANT_CYCLES if cfg.requant else 0)
    # a lower bound of the cycles with stalls on the streams: the (header and) LOAD of every
    # block on the timeline (block 0 only with the overlap), per block every pass back to back
    # (chained), the last pass's DRAIN and HANDOFF; then the last pass's rows. Stalls can end
    # a pass with the bank already empty and so chain a pass that is not chained without them:
    # a stalled run may take fewer cycles than ``cycles``, never fewer than this (a stalled
    # ``w`` only delays the next block's first pass).
    min_cycles = ((1 if overlap else blocks) * (header + K)
                  + blocks * (sum(max(K, int(w)) for w in words) + DRAIN_CYCLES + HANDOFF_CYCLES)
                  + valid_rows[-1] + (REQUANT_CYCLES if cfg.requant else 0))

    c = {
        "cycles": cycles,
        "swo_busy": blocks * passes * K,
        "dwo_busy": blocks * int(lits.sum()),
        "comp_busy": blocks * (K + passes),
        "rle_words": blocks * int(words.sum()),
        "skipped_vectors": blocks * int(skipped.sum()),
        "wbuf_writes": blocks * K,
        "wbuf_reads": blocks * (passes * K + int(lits.sum())),
        "ext_in_words": blocks * (header + K) + act_sends * (passes * lo_beats + ho_beats),
        "ext_out_words": blocks * M,
    }
    if abuf:    # recorded during the first column block, replayed for the others
        c["abuf_writes"] = act_beats
        c["abuf_reads"] = (blocks - 1) * act_beats

    # ---- external memory -----------------------------------------------------------------
    # bytes = the bits sent / 8: lo and ho beats are whole bytes (formats.lo_bus_bits,
    # ho_bus_bits); lo and ho once per run with the activation buffer, once per block without
    ho_raw = 0 if int8_array else act_sends * passes * beat_bytes(   # unencoded vectors of
        cfg.tiles_per_pass * K * cfg.group_size * (ACT_BITS - plan.L))  # G (8 - L)-bit slices
    mem = {
        "weight_bytes": blocks * (header + K) * beat_bytes(w_beat_bits(cfg)),   # w stream
        "lo_bytes": act_sends * passes * lo_beats * lo_bus_bits(cfg) // 8,
        "ho_bytes_rle": act_sends * ho_beats * ho_bus_bits(cfg) // 8,
        "ho_bytes_raw": ho_raw,
        "out_bytes": blocks * M * y_row_bytes(cfg, requant),
    }
    mem["total_bytes_rle"] = mem["weight_bytes"] + mem["lo_bytes"] + mem["ho_bytes_rle"] + mem["out_bytes"]
    mem["total_bytes_raw"] = mem["weight_bytes"] + mem["lo_bytes"] + mem["ho_bytes_raw"] + mem["out_bytes"]

    # ---- slice work ------------------------------------------------------------------------
    G, cols = cfg.group_size, cfg.cols
    if int8_array:
        int8_macs = c["swo_busy"] * rows_pp * cols           # A x W, one per row, column, k
        lo_products = ho_products = dense_products = 0
    else:
        int8_macs = 0
        lo_products = 2 * c["swo_busy"] * rows_pp * cols    # ALxWH, ALxWL
        ho_products = 2 * c["dwo_busy"] * G * cols           # (AH-s)xWH, (AH-s)xWL
        dense_products = 4 * blocks * passes * rows_pp * K * cols
    work = {
        "int8_macs": int8_macs,
        "lo_products": lo_products,
        "ho_products": ho_products,
        "skipped_products": dense_products - lo_products - ho_products,
        "dense_products": dense_products,
        # the ideal bound: each operator busy every cycle on its own work, no overheads
        "ideal_cycles": blocks * sum(max(K, int(l)) for l in lits),
        "min_cycles": min_cycles,
        "swo_utilization": c["swo_busy"] / cycles,
        "dwo_utilization": c["dwo_busy"] / cycles,
    }

    # ---- energy (per-event table in energy.py) ---------------------------------------------
    e = ENERGY_PJ
    energy = {
        "int8_mults": int8_macs * e["int8_mult"],
        "slice_mults": (lo_products + ho_products) * e["slice_mult"],
        "accumulate": (c["swo_busy"] * rows_pp + c["dwo_busy"] * G) * cols * e["add32"],
        "compensator": c["comp_busy"] * cols * e["add32"],
        "weight_buffer": (c["wbuf_reads"] + c["wbuf_writes"]) * cols * e["sram_byte"],
        "external": (mem["total_bytes_rle"]) * e["dram_byte"],
    }
    if abuf:    # one buffer write or read moves one beat's bytes
        lo_b = beat_bytes(lo_beat_bits(cfg))
        ho_b = 0 if int8_array else beat_bytes(rle_word_bits(cfg))
        per_run = passes * K * lo_b + int(words.sum()) * ho_b
        energy["act_buffer"] = blocks * per_run * e["sram_byte"]
    energy["total"] = sum(energy.values())
    return Prediction(counters=c, memory=mem, energy_pj=energy, work=work)
