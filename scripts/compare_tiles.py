#!/usr/bin/env python3
"""``panacea compare`` over tiles per pass: Panacea and its baselines at T = 2, 3, 4.

For a scale (``tiny`` or ``default``) this runs :func:`panacea_hdl.flows.compare.run_compare`
on the presets ``<scale>`` (T = 2), ``<scale>_t3`` and ``<scale>_t4``, each with its own
``_sibia`` and ``_dense`` baselines (same rows per pass, T x G), and prints one table over T.

Workloads: the named ones (default ``minilm``, ``skewed``, ``uniform``; sized per design by
:func:`~panacea_hdl.flows.compare.make_workloads`, so their rows grow with T) and two GEMMs of
the *same* shape on every design, written here as ``.npz`` files: ``skewed<M>``
(:func:`golden_model.workloads.skewed_activations`, z = 100) and ``uniform<M>`` (uniformly
random uint8, z = 128), both ``M x K x N`` with K = min(256, k_max), N = the design's columns,
:func:`~golden_model.workloads.random_weights`, seed 2025, L = 4. M (``--rows``, default 48)
should be a multiple of every T x G so no pass is partial.

Throughput per area is reported **per cycle** (MACs per cycle per area: M K N / cycles /
area), which does not depend on one placer seed's Fmax; area is logic transistors
(``generic``; with and without the weight-buffer bit cells) or the core's ECP5 LUT4
equivalents (``ecp5``). Every GEMM runs on the RTL (``--sim``), bit-exact with every counter
equal to the cycle model, or the run stops; ``--sim golden`` takes the cycles from the cycle
model alone (for the default scale, where each design's Verilator build takes minutes).

Usage::

    python scripts/compare_tiles.py --scale default --target generic [-o build/compare_tiles]
    python scripts/compare_tiles.py --scale tiny --target ecp5

Exit status 0, 2 on bad arguments or a failed run (one ``panacea: error:`` line).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from golden_model.config import preset  # noqa: E402
from golden_model.fileio import atomic_write_text, to_json  # noqa: E402
from golden_model.workloads import random_weights, skewed_activations  # noqa: E402

from panacea_hdl.flows.compare import (SIMS, SKEWED_Z, TARGETS, UNIFORM_Z, WORKLOAD_K,  # noqa: E402
                                       WORKLOAD_SEED, run_compare)
from panacea_hdl.paths import build_root  # noqa: E402

SCALES = ("tiny", "default")
TILES = (2, 3, 4)


def base_name(scale: str, T: int) -> str:
    """The Panacea preset of ``scale`` with T tiles per pass."""
    return scale if T == 2 else f"{scale}_t{T}"


def write_same_shape(scale: str, rows: int, out: Path) -> list:
    """The two same-shape ``.npz`` workloads (``skewed<rows>``, ``uniform<rows>``)."""
    cfg = preset(scale)
    K, N = min(WORKLOAD_K, cfg.k_max), cfg.cols
    W = random_weights(K, N, seed=WORKLOAD_SEED)
    uni = np.random.default_rng(WORKLOAD_SEED).integers(0, 256, size=(rows, K), dtype=np.uint8)
    paths = []
    for name, A, z in ((f"skewed{rows}", skewed_activations(rows, K, seed=WORKLOAD_SEED), SKEWED_Z),
                       (f"uniform{rows}", uni, UNIFORM_Z)):
        p = out / f"{name}.npz"
        np.savez(p, A=A, W=W, z=np.int64(z), L=np.int64(4))
        paths.append(str(p))
    return paths


def summarize(results: dict, target: str) -> dict:
    """Per workload and T: Panacea's cycles, skipped fraction, MACs/cycle/area and its ratios
    to the baselines (``results``: T -> compare.json dict)."""
    out = {}
    for T, d in results.items():
        pan = d["base"]
        names = {d["designs"][n]["variant"]: n for n in d["designs"]}
        for wname in d["workload_order"]:
            w = d["workloads"][wname]
            macs = w["M"] * w["K"] * w["N"]
            row = {"shape": f"{w['M']}x{w['K']}x{w['N']}"}
            for v, n in names.items():
                x = w["designs"][n]
                des = d["designs"][n]
                row[v] = {"design": n, "cycles": x["cycles"], "skipped": x["frac_vectors_skipped"],
                          "area": des["area"], "macs_per_cycle_per_area": macs / x["cycles"] / des["area"]}
                if target == "generic":
                    row[v]["macs_per_cycle_per_area_with_memory"] = (
                        macs / x["cycles"] / des["transistors_with_memory"])
            for v in ("sibia", "dense"):
                r = d["ratios"][wname][names[v]]
                row[f"vs_{v}"] = {"speedup": r["speedup"], "energy": r["energy"],
                                  "ext_bytes": r["ext_bytes"],
                                  "perf_per_area_per_cycle": (row["panacea"]["macs_per_cycle_per_area"]
                                                              / row[v]["macs_per_cycle_per_area"])}
                if target == "generic":
                    row[f"vs_{v}"]["perf_per_area_with_memory"] = (
                        row["panacea"]["macs_per_cycle_per_area_with_memory"]
                        / row[v]["macs_per_cycle_per_area_with_memory"])
            out.setdefault(wname, {})[T] = dict(row, base=pan)
    return out


def format_table(summary: dict, target: str) -> str:
    """The summary as one Markdown table (rows: workload, then T)."""
    unit = "MACs/cycle/Mtransistor" if target == "generic" else "MACs/cycle/kLUT4"
    scale = 1e6 if target == "generic" else 1e3
    mem = target == "generic"
    head = ["workload", "T", "shape", "cycles", "skipped", unit, "INT8 cycles",
            "vs INT8: speedup / perf per area" + (" / with bit cells" if mem else "")
            + " / energy", "vs Sibia-like: speedup / perf per area"]
    lines = ["| " + " | ".join(head) + " |",
             "|---|---|---|" + "---:|" * 4 + "---|---|"]
    for wname, per_t in summary.items():
        for i, (T, r) in enumerate(sorted(per_t.items(), key=lambda kv: int(kv[0]))):
            p, vd, vs = r["panacea"], r["vs_dense"], r["vs_sibia"]
            vsd = [f"{vd['speedup']:.2f}x", f"{vd['perf_per_area_per_cycle']:.2f}x"]
            if mem:
                vsd.append(f"{vd['perf_per_area_with_memory']:.2f}x")
            vsd.append(f"{vd['energy']:.3f}")
            cells = [wname if i == 0 else "", str(T), r["shape"], str(p["cycles"]),
                     f"{p['skipped']:.1%}", f"{p['macs_per_cycle_per_area'] * scale:.3f}",
                     str(r["dense"]["cycles"]), " / ".join(vsd),
                     f"{vs['speedup']:.2f}x / {vs['perf_per_area_per_cycle']:.2f}x"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="compare_tiles", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=SCALES, default="tiny")
    ap.add_argument("--target", choices=TARGETS, default="generic")
    ap.add_argument("--sim", choices=SIMS, default="verilator",
                    help="where the GEMMs run (default verilator); golden: the cycle model "
                         "alone (no RTL check; its cycles equal the RTL's wherever both ran)")
    ap.add_argument("--tiles", type=int, nargs="+", choices=TILES, default=list(TILES))
    ap.add_argument("--workload", action="append",
                    help="named workload (repeatable; default minilm, skewed, uniform)")
    ap.add_argument("--rows", type=int, default=48,
                    help="rows M of the same-shape skewed/uniform GEMMs; 0 leaves them out")
    ap.add_argument("-o", "--output", help="output directory (default <build>/compare_tiles/"
                                           "<scale>_<target>)")
    ap.add_argument("--table", metavar="TILES_JSON",
                    help="print the table of an earlier run's tiles.json and exit")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.table:
        try:
            d = json.loads(Path(a.table).read_text())
            summary = {w: d["summary"][w] for w in d["workload_order"]}
            text = format_table(summary, d["target"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"panacea: error: {a.table}: not a readable tiles.json ({e})", file=sys.stderr)
            return 2
        print(text)
        return 0
    try:
        if a.rows < 0 or (a.rows and any(a.rows % (T * preset(a.scale).group_size)
                                         for T in a.tiles)):
            raise ValueError(f"--rows {a.rows} must be a multiple of every T x G "
                             f"({[T * preset(a.scale).group_size for T in a.tiles]})")
        out = Path(a.output) if a.output else build_root() / "compare_tiles" / f"{a.scale}_{a.target}"
        out.mkdir(parents=True, exist_ok=True)
        wls = list(a.workload or ("minilm", "skewed", "uniform"))
        if a.rows:
            wls += write_same_shape(a.scale, a.rows, out)
        results = {}
        for T in a.tiles:
            b = base_name(a.scale, T)
            d = run_compare(b, workloads=wls, sim=a.sim, target=a.target, out_dir=out / b,
                            progress=not a.quiet)
            results[T] = d.to_dict()
    except (ValueError, OSError, RuntimeError) as e:
        print(f"panacea: error: {e}", file=sys.stderr)
        return 2
    summary = summarize(results, a.target)
    atomic_write_text(out / "tiles.json", to_json({"scale": a.scale, "target": a.target,
                                                   "sim": a.sim, "workload_order": list(summary),
                                                   "summary": summary}))
    print(format_table(summary, a.target))
    print(f"\n(per-T reports: {out}/<base>/compare.json; this table: {out / 'tiles.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
