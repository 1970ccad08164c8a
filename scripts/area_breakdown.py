#!/usr/bin/env python3
"""Per-block area of a Panacea preset beside its same-generator baselines.

Where does Panacea's extra area go? For a preset (``tiny`` or ``default``) and its baselines
(``<preset>_sibia``, ``<preset>_dense``) this prints, per block of the core (``BLOCKS`` of
``panacea_hdl.flows.synth``), the generic logic transistors (Yosys gates, CMOS estimate) and
the ECP5 LUT4 equivalents (LUT4 + 2 per CCU2C carry cell and per LUT-RAM) and flip-flops,
with the ratio of each design to the INT8 array (``dense``).

* generic: ``panacea_hdl.flows.compare.design_area`` (whole core, hierarchy kept; the result is
  cached beside the Verilog and reused while the Verilog is byte-identical).
* ecp5: the FPGA flow flattens the core into one module, so the per-block figures come from
  one extra Yosys run per design: the same ``synth_ecp5 -nodsp`` steps with ``-noflatten``
  (one module per Amaranth submodule), counted per module. Without flattening Yosys cannot
  optimise across block boundaries, so the per-block sum is a little above the flat core's
  figure (both are printed). Cached the same way in ``<design dir>/area_ecp5_blocks/``.

Usage::

    python scripts/area_breakdown.py --preset tiny [--target generic ecp5] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from golden_model.config import preset  # noqa: E402

from panacea_hdl.flows.synth import BLOCKS  # noqa: E402
from panacea_hdl.flows.synth.emit import FRONTEND, emit, read_core, verilog_modules  # noqa: E402
from panacea_hdl.flows.synth.fpga import _fpga_resources  # noqa: E402
from panacea_hdl.flows.synth.generic import _hierarchy_instances, _own_cells  # noqa: E402
from panacea_hdl.flows.synth.tools import ys_name, yosys  # noqa: E402
from panacea_hdl.paths import design_dir, file_lock  # noqa: E402


def generic_blocks(cfg, progress=False):
    from panacea_hdl.flows.compare import design_area

    s, cached = design_area(cfg, "generic", progress=progress)
    g = s.generic
    blocks = {b: {"transistors": v["transistors"], "cells": v["cells"]}
              for b, v in g.blocks.items()}
    return {"blocks": blocks, "total": {"transistors": g.transistors, "cells": g.cells,
                                        "flip_flops": g.flip_flops}, "cached": cached}


def ecp5_blocks(cfg, progress=False, timeout=7200):
    """Per-block ECP5 resources from a hierarchical (``-noflatten``) synth_ecp5 run."""
    from panacea_hdl.rtl.generate import top_name
    from panacea_hdl.rtl.top import PanaceaCore

    name = top_name(cfg)
    text, il, blockmap = emit(PanaceaCore(config=cfg), name)
    digest = hashlib.sha256(text.encode()).hexdigest()
    out = (design_dir(cfg) / "area_ecp5_blocks").resolve()
    out.mkdir(parents=True, exist_ok=True)
    res_path = out / "blocks.json"
    with file_lock(out):
        if res_path.is_file():
            old = json.loads(res_path.read_text())
            if old.get("verilog_sha256") == digest and old.get("frontend") == FRONTEND:
                old["cached"] = True
                return old
        (out / f"{name}.v").write_text(text)
        (out / f"{name}.il").write_text(il)
        if progress:
            print(f"[area] {cfg.name}: hierarchical synth_ecp5 in {out}", file=sys.stderr,
                  flush=True)
        top = ys_name(name)
        yosys([
            *read_core(f"{name}.il"),
            f"hierarchy -check -top {top}",
            f"synth_ecp5 -top {top} -nodsp -noflatten -run begin:map_luts",
            "techmap -map +/lattice/latches_map.v",
            "abc -lut 4 -dress",
            "clean",
            f"synth_ecp5 -top {top} -nodsp -noflatten -run map_cells:",
            "tee -q -o stat.json stat -json",
        ], out, timeout, "yosys (hierarchical synth_ecp5)")
        stat = json.loads((out / "stat.json").read_text())
        mods, inst = _hierarchy_instances(stat, name)
        names = set(mods)
        blocks = {}
        for m, n in inst.items():
            own = {t.lstrip("\\"): c for t, c in _own_cells(mods[m], names).items()}
            r = _fpga_resources("ecp5", own)
            b = blocks.setdefault(blockmap.get(m, "top"),
                                  {"LUT4_equiv": 0, "LUT4": 0, "CCU2C": 0, "FF": 0, "LUTRAM": 0,
                                   "BRAM": 0})
            for k in b:
                b[k] += r[k] * n
        total = {k: sum(b[k] for b in blocks.values()) for k in
                 ("LUT4_equiv", "LUT4", "CCU2C", "FF", "LUTRAM", "BRAM")}
        res = {"verilog_sha256": digest, "frontend": FRONTEND, "blocks": blocks, "total": total,
               "modules": verilog_modules(text)}
        res_path.write_text(json.dumps(res, indent=1, sort_keys=True))
        res["cached"] = False
        return res


def _fmt(v):
    return "-" if v is None else f"{v:,}"


def _ratio(a, b):
    return "-" if not a or not b else f"{a / b:.2f}"


def table(names, data, metric, target):
    """Rows: blocks; columns: one per design plus ratio to the last (dense) design."""
    blocks = [b for b in BLOCKS if any(b in data[n][target]["blocks"] for n in names)]
    ref = names[-1]
    head = ["block", *names, *(f"{n}/{ref}" for n in names[:-1])]
    rows = []
    for b in blocks:
        vals = [data[n][target]["blocks"].get(b, {}).get(metric) for n in names]
        if not any(vals):
            continue
        rows.append([BLOCKS[b], *map(_fmt, vals),
                     *(_ratio(v, vals[-1]) for v in vals[:-1])])
    tot = [data[n][target]["total"][metric] for n in names]
    rows.append(["**total**", *(f"**{_fmt(v)}**" for v in tot),
                 *(f"**{_ratio(v, tot[-1])}**" for v in tot[:-1])])
    lines = ["| " + " | ".join(head) + " |",
             "|---|" + "---:|" * (len(head) - 1)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="tiny",
                    help="base preset; its _sibia and _dense baselines are added (default tiny)")
    ap.add_argument("--target", nargs="+", choices=("generic", "ecp5"),
                    default=["generic", "ecp5"])
    ap.add_argument("--no-sibia", action="store_true", help="leave out the sibia baseline")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    base = a.preset
    names = [base] + ([] if a.no_sibia else [f"{base}_sibia"]) + [f"{base}_dense"]
    data = {}
    for n in names:
        cfg = preset(n)
        data[n] = {}
        if "generic" in a.target:
            data[n]["generic"] = generic_blocks(cfg, progress=not a.quiet)
        if "ecp5" in a.target:
            data[n]["ecp5"] = ecp5_blocks(cfg, progress=not a.quiet)
    if "generic" in a.target:
        print(f"\n## {base}: generic logic transistors per block (ratio to {names[-1]})\n")
        print(table(names, data, "transistors", "generic"))
    if "ecp5" in a.target:
        print(f"\n## {base}: ECP5 LUT4 equivalents per block, hierarchical synthesis "
              f"(ratio to {names[-1]})\n")
        print(table(names, data, "LUT4_equiv", "ecp5"))
        print(f"\n## {base}: ECP5 flip-flops per block\n")
        print(table(names, data, "FF", "ecp5"))
    if a.json:
        Path(a.json).write_text(json.dumps(data, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
