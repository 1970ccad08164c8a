#!/usr/bin/env python3
"""What DWO work stealing would save on whole MiniLM layers (an estimate; not built).

Issue 11, item 3 asks whether the DWO, when it has no literal to issue, should take
low-order work. This script measures the gain before anything is built, from the same
slice plans and RLE word counts the cycle model uses (:func:`golden_model.aqs_gemm.slice_plan`,
:func:`golden_model.cycle_model.pass_words`), on the 36 whole layers of MiniLM-L6 (ZPM + DBS,
:func:`golden_model.layer_report.minilm_layer_inputs`).

The rule estimated (the best a host could schedule): the SWO works on all T tiles of a pass
in lockstep, one k per cycle, so taking one k off it means the DWO (G rows) does that k's
low-order vectors of all T tiles: T DWO cycles for one SWO cycle. With ``w`` RLE words in the
pass (the DWO's issue cycles today) and ``s`` stolen k, the pass's issue phase lasts
``max(K - s, w + T s)`` instead of ``max(K, w)``; the host picks the best ``s`` per pass.
LOAD, DRAIN, HANDOFF and the output rows are the same with and without stealing and are left
out of both sides, so the ratio is an upper bound of the whole-GEMM gain. The INT8 array of
the same rows per pass issues K cycles per pass.

Usage::

    python scripts/work_stealing.py [--preset default] [--tiles 2 3 4] [--tokens 65]

Exit status 0, 2 on bad arguments (one ``panacea: error:`` line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from golden_model.aqs_gemm import slice_plan  # noqa: E402
from golden_model.config import ConfigError, preset  # noqa: E402
from golden_model.cycle_model import pass_words  # noqa: E402


def pass_issue_cycles(K: int, words: int, T: int) -> tuple:
    """Issue cycles of one pass ``(today, with stealing, stolen k)``: today ``max(K, words)``;
    with stealing ``min over s of max(K - s, words + T s)``."""
    # max(K - s, words + T s) falls, then rises; at s = floor((K - words) / (T + 1)) the SWO
    # is still the longer, and one more stolen k would make the DWO longer than K - s
    s = max(0, (K - words) // (T + 1))
    return max(K, words), max(K - s, words + T * s), s


def layer_cycles(layer: dict, cfg) -> dict:
    """Issue cycles of one whole layer on ``cfg`` (every column block the same)."""
    plan = slice_plan(layer["A"], mode="aqs", L=layer["L"], r=layer["r"], cfg=cfg)
    T, K = cfg.tiles_per_pass, layer["K"]
    words = pass_words(plan, cfg)[0]
    blocks = -(-layer["N"] // cfg.cols)
    today = stolen = 0
    for w in words:
        a, b, _ = pass_issue_cycles(K, int(w), T)
        today, stolen = today + a, stolen + b
    skipped = float(plan.vec_skip.mean())
    return {"today": blocks * today, "stealing": blocks * stolen,
            "int8": blocks * len(words) * K, "skipped": skipped}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="work_stealing", description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="default", help="Panacea preset at T = 2 (default "
                                                         "default); T = 3, 4 use <preset>_t3/_t4")
    ap.add_argument("--tiles", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--tokens", type=int, default=65, help="tokens per layer (default 65)")
    a = ap.parse_args(argv)
    try:
        cfgs = {T: preset(a.preset if T == 2 else f"{a.preset}_t{T}") for T in a.tiles}
        if any(c.variant != "panacea" for c in cfgs.values()):
            raise ConfigError(f"{a.preset} is not a Panacea preset")
        from golden_model.layer_report import check_tokens, minilm_layer_inputs
        tokens = check_tokens(a.tokens)
    except (ConfigError, ValueError) as e:
        print(f"panacea: error: {e}", file=sys.stderr)
        return 2
    head = f"{'group':10s} {'T':>2s} {'skipped':>8s} {'today/INT8':>11s} {'stealing/INT8':>14s} {'gain':>6s}"
    print(f"MiniLM-L6, {tokens} tokens, ZPM + DBS; issue cycles summed over the layers of a "
          f"group (INT8 array: K per pass)\n")
    print(head)
    print("-" * len(head))
    for T, cfg in cfgs.items():
        layers = minilm_layer_inputs(tokens, cfg)
        groups = {}
        for layer in layers:
            g = groups.setdefault(layer["group"], {"today": 0, "stealing": 0, "int8": 0,
                                                   "skipped": []})
            r = layer_cycles(layer, cfg)
            for k in ("today", "stealing", "int8"):
                g[k] += r[k]
            g["skipped"].append(r["skipped"])
        total = {k: sum(g[k] for g in groups.values()) for k in ("today", "stealing", "int8")}
        rows = [(n, g) for n, g in groups.items()] + [("model", dict(total, skipped=[]))]
        for n, g in rows:
            sk = f"{sum(g['skipped']) / len(g['skipped']):.1%}" if g["skipped"] else ""
            print(f"{n:10s} {T:2d} {sk:>8s} {g['today'] / g['int8']:11.3f} "
                  f"{g['stealing'] / g['int8']:14.3f} {g['today'] / g['stealing']:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
