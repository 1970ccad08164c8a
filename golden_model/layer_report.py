"""Whole MiniLM-L6 layers at a real token count: cycles, external bytes against the compulsory
minimum, energy on chip and external (``panacea compare --workload minilm-layers``).

A *whole layer* is one of the 36 linear layers of MiniLM-L6 as the ZPM + DBS path runs it:
M = the token count, K x N the layer's, the layer's own zero point z, split L and r
(:class:`golden_model.minilm.QuantizedLinear` on the ``w8a8_asym_zpm_dbs`` path, calibrated on
exactly those M tokens). A layer larger than one run of the core goes through
:func:`golden_model.tiling.plan_tiles` as the RTL flow runs it (row blocks for the activation
buffer, K slices when K > ``k_max``); every figure is the sum of the per-tile
:func:`golden_model.cycle_model.predict` results (:func:`golden_model.tiling.predict_gemm`).

**Tokens.** The built-in sentences (:data:`golden_model.minilm.DEFAULT_SENTENCES`) followed by
the calibration sentences of :mod:`golden_model.model_report`, repeated in that order until
there are enough, stacked without padding and cut at exactly ``tokens`` (the last sentence may
lose its tail; attention runs per sentence, so only that sentence sees the cut).

**Compulsory minimum** (:func:`compulsory_bytes`): what any schedule of the design must move
at least once, in the design's own stream formats: the weights once (``w`` beats, K beats per
column block of ``cols``), the activations once (packed ``lo`` beats + packed RLE ``ho`` words
of the whole M x K, restarted per pass as the format is; whole int8 activations on the INT8
array) and the outputs once (one ``y`` row per token and column block, int32).
"""

from __future__ import annotations

import math

import numpy as np

from .aqs_gemm import slice_plan
from .config import PanaceaConfig
from .cycle_model import predict
from .energy import energy_split
from .formats import rle_word_count
from .tiling import plan_tiles, predict_gemm

__all__ = ["DEFAULT_TOKENS", "MAX_TOKENS", "LAYER_PATH", "check_tokens", "token_ids",
           "minilm_layer_inputs", "compulsory_bytes", "layer_figures", "best_blocking"]

#: Token count of the whole-layer reports unless told otherwise (a short paragraph).
DEFAULT_TOKENS = 65
#: Largest token count accepted (a bound on run time; MiniLM itself attends per sentence).
MAX_TOKENS = 4096
#: The numeric path whose layer inputs are reported.
LAYER_PATH = "w8a8_asym_zpm_dbs"


def check_tokens(tokens) -> int:
    """``tokens`` as an int in [1, :data:`MAX_TOKENS`], else ``ValueError``."""
    if isinstance(tokens, bool) or not isinstance(tokens, (int, np.integer)):
        raise ValueError(f"tokens must be an integer, got {tokens!r}")
    if not 1 <= int(tokens) <= MAX_TOKENS:
        raise ValueError(f"tokens must be in [1, {MAX_TOKENS}], got {tokens}")
    return int(tokens)


def token_ids(tokens: int, *, model=None, sentences=None) -> list:
    """Token ids of sentences stacked to exactly ``tokens`` tokens (see the module docstring)."""
    from .minilm import CALIBRATION_SENTENCES, DEFAULT_SENTENCES, load_minilm

    tokens = check_tokens(tokens)
    model = model or load_minilm()
    pool = list(sentences) if sentences is not None else (list(DEFAULT_SENTENCES)
                                                          + list(CALIBRATION_SENTENCES))
    ids_pool = model.tokenize(pool)
    out, n, i = [], 0, 0
    while n < tokens:
        t = ids_pool[i % len(ids_pool)]
        t = t[: tokens - n]
        out.append(t)
        n += len(t)
        i += 1
    return out


def minilm_layer_inputs(tokens: int, cfg: PanaceaConfig, *, model=None, sentences=None) -> list:
    """The 36 whole linear layers of MiniLM-L6 on the ZPM + DBS path at ``tokens`` tokens.

    Returns a list (execution order) of dicts: ``name, kind, group, M, K, N, z, L, r`` and the
    integer operands ``A`` (uint8 M x K) and ``W`` (int8 K x N). ZPM and DBS choose on ``cfg``.
    """
    from .minilm import QuantizedLinear, _encode, load_minilm

    model = model or load_minilm()
    ids = token_ids(tokens, model=model, sentences=sentences)
    hook = QuantizedLinear(LAYER_PATH, cfg=cfg)
    _encode(model, ids, hook)
    keys = ("name", "kind", "group", "M", "K", "N", "z", "L", "r", "A", "W")
    return [{k: rec[k] for k in keys} for rec in hook.records.values()]


def compulsory_bytes(A, N: int, *, mode, L, r, cfg: PanaceaConfig) -> dict:
    """External bytes any schedule of ``cfg`` must move for ``(A - z) @ W`` (W: K x N): the
    weights, the activations (as ``cfg`` stores them) and the int32 outputs, each once.

    Read from :func:`~golden_model.cycle_model.predict` of the whole GEMM on ``cfg`` without
    limits (``k_max`` >= K, no activation buffer) and one column block, so the stream formats
    are exactly the cycle model's. Returns ``weights, lo, ho, activations, outputs, total``.
    """
    A = np.asarray(A)
    M, K = A.shape
    free = cfg.replace(k_max=max(K, cfg.k_max), act_buffer_bytes=0)
    blocks = math.ceil(N / cfg.cols)
    plan = slice_plan(A, mode=mode, L=L, r=r, cfg=free)
    one = predict(plan, cfg.cols, free).memory        # one column block: activations once
    out = {"weights": blocks * (one["weight_bytes"]), "lo": one["lo_bytes"],
           "ho": one["ho_bytes_rle"], "outputs": blocks * one["out_bytes"]}
    out["activations"] = out["lo"] + out["ho"]
    out["total"] = out["weights"] + out["activations"] + out["outputs"]
    return out


def best_blocking(A, N: int, *, mode, L, r, cfg: PanaceaConfig) -> dict | None:
    """How few row blocks the activation buffer could take for this very data.

    ``plan_tiles`` cuts row blocks by the worst case (every vector a literal). Here instead:
    ``data`` = the fewest consecutive row blocks whose real ``lo`` beats and ``ho`` words fit
    the buffer's two parts (``abuf_lo_depth``, ``abuf_ho_depth``; greedy, which is optimal for
    consecutive blocks); ``pooled`` = the fewest if the buffer's bytes were one pool for both
    (``ceil(activation bytes as buffered / act_buffer_bytes)``). With R row blocks the
    external bytes are the compulsory minimum + (R - 1) x the weight bytes (the weights are
    re-read once per row block). None without a buffer or when K is cut into slices.
    """
    from .formats import beat_bytes, lo_beat_bits, rle_word_bits

    if not cfg.act_buffer_bytes:
        return None
    A = np.asarray(A)
    M, K = A.shape
    if K > cfg.k_max:
        return None
    plan = slice_plan(A, mode=mode, L=L, r=r, cfg=cfg)
    T = cfg.tiles_per_pass
    if cfg.caps.sliced:
        words = rle_word_count(plan.vec_skip, cfg.max_run).reshape(-1, T).sum(1)
    else:
        words = np.zeros(plan.AH.shape[0] // cfg.rows_per_pass, dtype=np.int64)
    blocks, lo, ho = 1, 0, 0
    for w in words:
        w = int(w)
        if lo + K > cfg.abuf_lo_depth or ho + w > cfg.abuf_ho_depth:
            blocks, lo, ho = blocks + 1, 0, 0
        lo, ho = lo + K, ho + w
    buffered = (len(words) * K * beat_bytes(lo_beat_bits(cfg))
                + (int(words.sum()) * beat_bytes(rle_word_bits(cfg)) if cfg.caps.sliced else 0))
    pooled = max(1, math.ceil(buffered / cfg.act_buffer_bytes))
    comp = compulsory_bytes(A, N, mode=mode, L=L, r=r, cfg=cfg)
    return {"data_row_blocks": blocks,
            "data_ext_bytes": comp["total"] + (blocks - 1) * comp["weights"],
            "pooled_row_blocks": pooled,
            "pooled_ext_bytes": comp["total"] + (pooled - 1) * comp["weights"],
            "buffered_act_bytes": int(buffered)}


def layer_figures(A, N: int, *, mode, L, r, cfg: PanaceaConfig) -> dict:
    """Cycles, tiling, external bytes vs the compulsory minimum and the energy split of one
    whole layer ``A`` (uint8 M x K) times a K x N weight on ``cfg`` (sums over its tiles)."""
    A = np.asarray(A)
    M, K = A.shape
    tiles = plan_tiles(M, K, N, cfg)
    pred, stats, runs = predict_gemm(A, N, mode=mode, L=L, r=r, cfg=cfg)
    mem = pred.memory
    comp = compulsory_bytes(A, N, mode=mode, L=L, r=r, cfg=cfg)
    ext = int(mem["total_bytes_rle"])
    row_blocks = len({(t.m0, t.m1) for t in tiles})
    k_slices = len({(t.k0, t.k1) for t in tiles})
    out = {
        "mode": mode, "M": int(M), "K": int(K), "N": int(N),
        "cycles": int(pred.counters["cycles"]),
        "tiles": int(runs), "row_blocks": row_blocks, "k_slices": k_slices,
        "rows_per_block": max(t.m1 - t.m0 for t in tiles),
        "frac_vectors_skipped": float(stats["frac_vectors_skipped"]) if cfg.caps.sliced else 0.0,
        "ext_bytes": ext,
        "weight_bytes": int(mem["weight_bytes"]),
        "act_bytes": int(mem["lo_bytes"] + mem["ho_bytes_rle"]),
        "lo_bytes": int(mem["lo_bytes"]), "ho_bytes": int(mem["ho_bytes_rle"]),
        "out_bytes": int(mem["out_bytes"]),
        "compulsory": comp,
        "ext_over_compulsory": ext / comp["total"],
        "energy_pj": energy_split(pred.energy_pj),
        "counters": {k: int(v) for k, v in pred.counters.items()},
    }
    out["best_blocking"] = (best_blocking(A, N, mode=mode, L=L, r=r, cfg=cfg)
                            if row_blocks > 1 else None)
    return out
