"""``panacea compare``: a Panacea core and its same-generator baselines, side by side.

For a base preset (``tiny`` or ``default``) the three designs are the Panacea core ``<base>``
and its baselines ``<base>_sibia`` (bit-slice array, zero-slice skipping only) and
``<base>_dense`` (INT8 array), ``docs/baselines.md``. Each runs in its most-skipping mode
(:data:`BEST_MODE`). Per design the area comes from :func:`panacea_hdl.flows.synth.run_synth`
(cached, see :func:`design_area`); per workload every design runs the *same* GEMMs on its RTL
through :func:`panacea_hdl.flows.jobs.run_gemm_job` (bit-exact and every counter, cycles included,
checked against the golden model by :func:`panacea_hdl.sim.host.check_run`). ``docs/compare.md`` explains the columns.

Example::

    >>> d = run_compare("tiny", workloads=("skewed",), target="generic")
    >>> print(format_compare(d))
    >>> plot_compare(d)          # PNG + SVG beside compare.json in d.out_dir
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from golden_model.aqs_gemm import choose_r
from golden_model.budget import multiplier_budget
from golden_model.config import BASELINE_BASES, PanaceaConfig, preset
from golden_model.fileio import atomic_write_text, to_json
from golden_model.slicing import check_activation, check_weight
from golden_model.workloads import random_weights, skewed_activations

from panacea_hdl.paths import build_root, design_dir

__all__ = ["run_compare", "format_compare", "plot_compare", "make_workloads", "design_area",
           "CompareResult", "BUILTIN_WORKLOADS", "BEST_MODE", "TARGETS", "SIMS", "WORKLOAD_SEED"]

#: Workloads known by name (anything else must be an ``.npz`` file).
BUILTIN_WORKLOADS = ("skewed", "uniform", "minilm")
#: The mode each hardware variant is compared in: the one that skips the most.
BEST_MODE = {"panacea": "aqs", "sibia": "sibia", "dense": "dense"}
#: Area sources: generic gates (cells, transistors; no Fmax) or ECP5 place-and-route.
TARGETS = ("generic", "ecp5")
#: Where the GEMMs run (``golden`` = cycle model only, no RTL).
SIMS = ("verilator", "icarus", "golden")
#: Seed of the generated workloads (the built-in workload's).
WORKLOAD_SEED = 2025
#: Passes of ``rows_per_pass`` rows in the generated workloads.
WORKLOAD_PASSES = 4
#: Largest K of the generated workloads (capped by the design's ``k_max``).
WORKLOAD_K = 256
#: Zero points of the generated workloads.
SKEWED_Z, UNIFORM_Z = 100, 128

_VARIANT_ORDER = ("panacea", "sibia", "dense")


def _say(progress, msg):
    if progress:
        print(f"[compare] {msg}", file=sys.stderr, flush=True)


# ---- designs and workloads -----------------------------------------------------------------
def _designs(base) -> list:
    if not isinstance(base, str):
        raise TypeError(f"base must be a preset name (str), not {type(base).__name__}")
    cfg = preset(base)                       # unknown name: ConfigError (a ValueError)
    if cfg.variant != "panacea":
        raise ValueError(f"base must be a Panacea preset, not the {cfg.variant!r} baseline {base!r}")
    try:
        return [cfg, preset(f"{base}_sibia"), preset(f"{base}_dense")]
    except ValueError:
        raise ValueError(f"preset {base!r} has no same-generator baselines "
                         f"({base}_sibia, {base}_dense); use one of "
                         f"{', '.join(BASELINE_BASES)}") from None


def _generated_shape(cfg: PanaceaConfig):
    return WORKLOAD_PASSES * cfg.rows_per_pass, min(WORKLOAD_K, cfg.k_max), cfg.cols


def _load_npz(path: Path, cfg: PanaceaConfig) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:            # not a zip / not an npz
        raise ValueError(f"workload {path}: cannot read it as an .npz file ({e})") from None
    missing = [k for k in ("A", "W", "z") if k not in arrays]
    if missing:
        raise ValueError(f"workload {path}: missing array(s) {missing}; an .npz workload needs "
                         f"A (uint8, M x K), W (int8, K x N) and a scalar z")
    A = check_activation(arrays["A"], f"{path.name}: A")
    W = check_weight(arrays["W"], f"{path.name}: W")
    if A.shape[1] != W.shape[0]:
        raise ValueError(f"workload {path}: A is {A.shape} but W is {W.shape} (K differs)")

    def scalar(key):
        v = arrays[key]
        if v.shape != () or not np.issubdtype(v.dtype, np.integer):
            raise ValueError(f"workload {path}: {key} must be an integer scalar, got "
                             f"{v.dtype} of shape {v.shape}")
        return int(v)

    z = scalar("z")
    if not 0 <= z <= 255:
        raise ValueError(f"workload {path}: zero point z={z} is outside [0, 255]")
    L = scalar("L") if "L" in arrays else cfg.default_split
    if L not in cfg.splits:
        raise ValueError(f"workload {path}: split L={L} not supported by {cfg.name} "
                         f"(splits {list(cfg.splits)})")
    r = scalar("r") if "r" in arrays else choose_r(A, L)
    if not 0 <= r < (1 << (8 - L)):
        raise ValueError(f"workload {path}: r={r} is outside [0, {(1 << (8 - L)) - 1}] for "
                         f"split L={L}")
    return {"name": path.stem, "source": str(path), "A": A, "W": W, "z": z, "L": L, "r": r}


def make_workloads(cfg: PanaceaConfig, names) -> list:
    """The GEMMs of the named workloads, sized for ``cfg`` (the same GEMMs run on every design).

    Parameters
    ----------
    cfg : PanaceaConfig
        The Panacea design (its baselines share its tile shape and ``k_max``).
    names : sequence of str or path
        ``skewed``: :func:`golden_model.workloads.skewed_activations` (centre 104, z = 100) and
        :func:`~golden_model.workloads.random_weights`, seed :data:`WORKLOAD_SEED`, M = 4 passes
        of ``rows_per_pass``, K = min(256, ``k_max``), N = ``cols``; ``uniform``: the same
        shape with uniformly random uint8 activations and z = 128 (nothing to skip: Panacea's
        worst case); ``minilm``: the four :func:`golden_model.minilm.representative_tiles`
        (one workload each, ``minilm:<layer>``); anything else: an ``.npz`` file with ``A``
        (uint8), ``W`` (int8), a scalar ``z`` and optionally scalars ``L`` and ``r``.

    Returns
    -------
    list of dict
        ``name, source, A, W, z, L, r`` per GEMM (L = 4 and r = ``choose_r(A, L)`` unless the
        workload gives them).

    Raises
    ------
    ValueError
        Unknown name, unreadable or malformed file (r out of range included), duplicate names, or
        ``minilm`` without the model package.
    """
    if isinstance(names, (str, Path)):
        names = (names,)
    names = list(names)
    if not names:
        raise ValueError("no workloads given; choose from "
                         f"{', '.join(BUILTIN_WORKLOADS)} or an .npz file")
    M, K, N = _generated_shape(cfg)
    L0 = cfg.default_split
    out = []
    for name in names:
        if not isinstance(name, (str, Path)):
            raise ValueError(f"workload must be a name or a path, got {name!r}")
        if name == "skewed":
            A = skewed_activations(M, K, seed=WORKLOAD_SEED)
            W = random_weights(K, N, seed=WORKLOAD_SEED)
            out.append({"name": "skewed", "source": f"skewed_activations seed {WORKLOAD_SEED}",
                        "A": A, "W": W, "z": SKEWED_Z, "L": L0, "r": choose_r(A, L0)})
        elif name == "uniform":
            rng = np.random.default_rng(WORKLOAD_SEED)
            A = rng.integers(0, 256, size=(M, K), dtype=np.uint8)
            W = random_weights(K, N, seed=WORKLOAD_SEED)
            out.append({"name": "uniform", "source": f"uniform uint8 seed {WORKLOAD_SEED}",
                        "A": A, "W": W, "z": UNIFORM_Z, "L": L0, "r": choose_r(A, L0)})
        elif name == "minilm":
            from golden_model.minilm import representative_tiles

            for t in representative_tiles(cfg):      # no package: MiniLMError (ValueError)
                out.append({"name": f"minilm:{t['name']}",
                            "source": f"MiniLM-L6 {t['name']} ({t['group']}), full layer "
                                      f"{'x'.join(map(str, t['full_shape']))}",
                            "A": t["A"], "W": t["W"], "z": t["z"], "L": t["L"], "r": t["r"]})
        elif name == "minilm-layers":
            raise ValueError("minilm-layers (whole MiniLM layers) is not a GEMM tile workload: "
                             "run it alone (panacea compare --workload minilm-layers, or "
                             "panacea_hdl.flows.layer_compare.run_layer_compare)")
        else:
            p = Path(name)
            if p.suffix != ".npz":
                raise ValueError(f"unknown workload {str(name)!r}: choose from "
                                 f"{', '.join(BUILTIN_WORKLOADS)} or give an .npz file")
            if not p.is_file():
                raise ValueError(f"workload file {p} does not exist")
            out.append(_load_npz(p, cfg))
    seen = set()
    for w in out:
        if w["name"] in seen:
            raise ValueError(f"workload {w['name']!r} is given twice")
        seen.add(w["name"])
        if w["A"].shape[0] < 1 or w["W"].shape[1] < 1 or w["A"].shape[1] < 1:
            raise ValueError(f"workload {w['name']!r}: empty GEMM {w['A'].shape} x {w['W'].shape}")
    return out


@dataclass(frozen=True)
class CompareResult:
    """What :func:`run_compare` measured (``compare.json`` is :meth:`to_dict`).

    Attributes
    ----------
    base, target, sim : str
        Panacea preset, area source (``generic`` / ``ecp5``) and where the GEMMs ran.
    basis : {"per_second", "per_cycle"}
        Throughput per second (every design has an Fmax) or per cycle.
    area_unit, throughput_unit : str
    notes : list of str
        How budgets were equated and what is left out.
    out_dir : str
    designs : dict
        Design name -> variant, mode, area figures (:func:`design_area`), multiplier budget.
    design_ratios : dict
        Baseline name -> Panacea/baseline area, PP bits, Fmax (and area with bit cells).
    workload_order : list of str
    workloads : dict
        Workload name -> shape, z, L, r and, per design, cycles, time, skipped fraction,
        energy, multiply energy, external bytes, throughput, throughput per area.
    ratios : dict
        Workload name -> baseline name -> speedup, perf/area, energy, mult energy, ext bytes.
    runtime_s : dict
    """

    base: str
    target: str
    sim: str
    basis: str
    area_unit: str
    throughput_unit: str
    notes: list
    out_dir: str
    designs: dict
    design_ratios: dict
    workload_order: list
    workloads: dict
    ratios: dict
    runtime_s: dict

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "CompareResult":
        """Read ``compare.json`` back; raises ``KeyError`` if a field is missing."""
        return cls(**{f.name: d[f.name] for f in fields(cls)})


# ---- area ----------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cache_usable(s, cfg: PanaceaConfig, target: str, router: str = "router1") -> bool:
    from panacea_hdl.rtl.generate import top_name
    from panacea_hdl.flows.synth import DEVICES
    from panacea_hdl.flows.synth.emit import FRONTEND

    if (s.target != target or s.top != top_name(cfg) or s.config != cfg.to_dict()
            or s.frontend != FRONTEND):
        return False
    if target == "generic":
        return s.generic is not None
    # the settings run_compare uses: default clock target, seed 1, multipliers in LUTs, its router
    f = s.fpga
    return (f is not None and f.seed == 1 and "nodsp" in f.dsp and f.router == router
            and f.freq_target_mhz == DEVICES[target]["freq_mhz"])


def design_area(cfg: PanaceaConfig, target: str, *, progress=False, resynth=False,
                router="router1", timeout=3600.0) -> dict:
    """``run_synth(cfg, target=target)``, reusing ``<design dir>/synth_<target>/synth.json``.

    The cached result is used when the Verilog beside it is byte-identical to what
    :func:`panacea_hdl.rtl.generate.generate` writes for ``cfg`` now (SHA-256), and it was made
    with the settings used here (whole core, Yosys reading RTLIL; ECP5: default clock target,
    seed 1, ``-nodsp``, nextpnr's ``router``). ``timeout``: seconds per tool run.
    Returns ``(SynthResult, cached)``.
    """
    from panacea_hdl.rtl.generate import generate, top_name
    from panacea_hdl.flows.synth import SynthResult, run_synth

    vpath = generate(cfg)["verilog"]
    digest = _sha256(vpath)
    sdir = design_dir(cfg) / f"synth_{target}"
    sjson, sver = sdir / "synth.json", sdir / f"{top_name(cfg)}.v"
    if not resynth and sjson.is_file() and sver.is_file() and _sha256(sver) == digest:
        try:
            s = SynthResult.from_dict(json.loads(sjson.read_text()))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            s = None            # unreadable or from an older layout: synthesize again
        if s is not None and _cache_usable(s, cfg, target, router):
            _say(progress, f"{cfg.name}: reusing {sjson} (Verilog unchanged)")
            return s, True
    _say(progress, f"{cfg.name}: synthesizing for {target} (this can take minutes)")
    extra = {"dsp": "off", "router": router} if target == "ecp5" else {}  # multipliers in LUTs
    return run_synth(cfg, target=target, out_dir=sdir, progress=progress, timeout=timeout,
                     **extra), False


def _area_summary(s, cached: bool) -> dict:
    """The numbers of a synthesis result (:class:`~panacea_hdl.flows.synth.SynthResult`) the
    comparison uses."""
    rt = s.runtime_s
    if s.generic is not None:
        g = s.generic
        return {"cells": g.cells, "flip_flops": g.flip_flops,
                "transistors": g.transistors, "memory_bits": g.memory_bits,
                "memory_transistors": g.memory_transistors,
                "transistors_with_memory": g.transistors_with_memory,
                "area": g.transistors, "fmax_mhz": None, "fits": None,
                "cached": cached, "synth_runtime_s": rt.get("total"),
                "synth_dir": s.out_dir}
    f = s.fpga
    c = f.core
    return {"LUT4": c["LUT4"], "LUT4_equiv": c["LUT4_equiv"], "CCU2C": c.get("CCU2C", 0),
            "LUTRAM": c.get("LUTRAM", 0), "FF": c["FF"], "BRAM": c["BRAM"], "DSP": c["DSP"],
            "area": c["LUT4_equiv"], "fmax_mhz": f.fmax_mhz, "fits": f.fits,
            "fit_message": f.fit_message, "device": f.device,
            "cached": cached, "synth_runtime_s": rt.get("total"),
            "synth_dir": s.out_dir}


# ---- the comparison ------------------------------------------------------------------------
def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def run_compare(base="default", *, workloads=("skewed",), sim="verilator", target="ecp5",
                out_dir=None, progress=False, resynth=False, router="router1",
                synth_timeout=3600.0) -> dict:
    """Compare the Panacea preset ``base`` with ``<base>_sibia`` and ``<base>_dense``.

    Parameters
    ----------
    base : str
        Panacea preset with baselines (``tiny`` or ``default``).
    workloads : sequence of str or path
        See :func:`make_workloads`; ``minilm`` expands to four GEMMs.
    sim : {"verilator", "icarus", "golden"}
        Where the GEMMs run. On the RTL every result is bit-exact and every counter equals
        the cycle model, or :class:`panacea_hdl.flows.jobs.RTLMismatch` is raised; ``golden`` uses
        the cycle model alone.
    target : {"generic", "ecp5"}
        Area source. ``ecp5``: LUT4 equivalents of the core and post-route Fmax, so times
        and throughput are per second. ``generic``: logic transistors, no Fmax, so throughput
        is per cycle.
    out_dir : path-like, optional
        Where ``compare.json`` (and :func:`plot_compare`'s figures) go; default
        ``build/compare/<base>_<target>``.
    progress : bool
        One line per step on stderr.
    resynth : bool
        Synthesize even when a cached result is usable (:func:`design_area`).
    router : {"router1", "router2"}
        nextpnr's router for ``ecp5`` (:func:`~panacea_hdl.flows.synth.run_synth`); a cached
        result is reused only if made with the same router. ``router2`` for the default-scale
        FPGA presets (``docs/synthesis.md``).
    synth_timeout : float
        Seconds allowed for each Yosys or nextpnr run (a default-scale place-and-route takes
        about an hour).

    Returns
    -------
    CompareResult
        Also written as ``compare.json`` (:meth:`CompareResult.to_dict`).
    """
    from panacea_hdl.flows.jobs import check_gemm_args, run_gemm_job
    from panacea_hdl.flows.synth import ROUTERS

    t_start = time.perf_counter()
    cfgs = _designs(base)
    if router not in ROUTERS:
        raise ValueError(f"router must be one of {list(ROUTERS)}, got {router!r}")
    if (isinstance(synth_timeout, bool) or not isinstance(synth_timeout, (int, float))
            or not 0 < synth_timeout < float("inf")):
        raise ValueError(f"synth_timeout must be a positive number of seconds, got {synth_timeout!r}")
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {list(TARGETS)}")
    if sim not in SIMS:
        raise ValueError(f"unknown simulator {sim!r}; choose one of {list(SIMS)}")
    t0 = time.perf_counter()
    wls = make_workloads(cfgs[0], workloads)        # all errors before anything runs
    for w in wls:
        for cfg in cfgs:
            check_gemm_args(cfg, w["A"], w["W"], w["z"], mode=BEST_MODE[cfg.variant], L=w["L"],
                            r=w["r"], sim=sim)
    runtime_workloads = round(time.perf_counter() - t0, 1)
    out = Path(out_dir) if out_dir is not None else build_root() / "compare" / f"{base}_{target}"
    runtime = {"workloads": runtime_workloads, "synth": {}, "sim": {}}

    designs = {}
    for cfg in cfgs:
        t0 = time.perf_counter()
        s, cached = design_area(cfg, target, progress=progress, resynth=resynth, router=router,
                                timeout=synth_timeout)
        runtime["synth"][cfg.name] = round(time.perf_counter() - t0, 1)
        area = _area_summary(s, cached)
        bud = multiplier_budget(cfg)
        designs[cfg.name] = {
            "config": cfg.to_dict(), "variant": cfg.variant, "mode": BEST_MODE[cfg.variant],
            **area,
            "pp_bits_per_col": bud["pp_bits_per_col"], "pp_bits": bud["pp_bits"],
            "multipliers_per_col": bud["multipliers_per_col"],
        }
        if target == "ecp5" and area["fmax_mhz"] is None:
            _say(progress, f"{cfg.name}: no Fmax ({area.get('fit_message') or 'not placed'})")

    per_second = target == "ecp5" and all(d["fmax_mhz"] for d in designs.values())
    notes = []
    if target == "generic":
        notes.append("generic target: no Fmax, so no times; throughput is GEMMs per cycle "
                     "and area is logic transistors (CMOS estimate, weight-buffer bit cells "
                     "not included; they are listed apart)")
    else:
        notes.append("ecp5 target: area is the core's LUT4 equivalents (LUT4 + 2 per CCU2C "
                     "carry cell + 2 per LUT-RAM; multipliers in LUTs, -nodsp); weight buffers "
                     "are block RAMs, listed apart; time = cycles / post-route Fmax")
        if not per_second:
            bad = [n for n, d in designs.items() if not d["fmax_mhz"]]
            notes.append(f"no Fmax for {', '.join(bad)} (did not fit or not placed): "
                         f"throughput is GEMMs per cycle for every design")
    basis = "per_second" if per_second else "per_cycle"
    tp_unit = "GEMM/s" if per_second else "GEMM/cycle"
    area_unit = "LUT4" if target == "ecp5" else "transistor"

    wl_out = {}
    for w in wls:
        A, W = w["A"], w["W"]
        entry = {"source": w["source"], "M": int(A.shape[0]), "K": int(A.shape[1]),
                 "N": int(W.shape[1]), "z": int(w["z"]), "L": int(w["L"]), "r": int(w["r"]),
                 "designs": {}}
        for cfg in cfgs:
            mode = BEST_MODE[cfg.variant]
            _say(progress, f"{w['name']} on {cfg.name} ({mode}, {sim})")
            t0 = time.perf_counter()
            rep = run_gemm_job(cfg, A, W, w["z"], mode=mode, L=w["L"], r=w["r"], sim=sim)
            runtime["sim"][f"{w['name']}/{cfg.name}"] = round(time.perf_counter() - t0, 1)
            cycles = int(rep.counters["cycles"])
            e = rep.prediction.energy_pj
            fmax = designs[cfg.name]["fmax_mhz"]
            tput = (fmax * 1e6 / cycles) if per_second else 1.0 / cycles
            entry["designs"][cfg.name] = {
                "mode": mode,
                "cycles": cycles,
                "predicted_cycles": int(rep.prediction.counters["cycles"]),
                "time_us": (cycles / fmax) if (target == "ecp5" and fmax) else None,
                "frac_vectors_skipped": (0.0 if not cfg.caps.sliced
                                         else float(rep.slice_stats["frac_vectors_skipped"])),
                "energy_pj": float(e["total"]),
                "mult_energy_pj": float(e["int8_mults"] + e["slice_mults"]),
                "ext_bytes": int(rep.prediction.memory["total_bytes_rle"]),
                "throughput": tput,
                "throughput_per_area": tput / designs[cfg.name]["area"],
                "rtl_checked": rep.rtl is not None,
            }
        wl_out[w["name"]] = entry

    pan = cfgs[0].name
    ratios = {}
    for wname, entry in wl_out.items():
        p = entry["designs"][pan]
        ratios[wname] = {}
        for cfg in cfgs[1:]:
            b = entry["designs"][cfg.name]
            ratios[wname][cfg.name] = {
                "speedup": b["cycles"] / p["cycles"],
                "perf_per_area": p["throughput_per_area"] / b["throughput_per_area"],
                "energy": p["energy_pj"] / b["energy_pj"],
                "mult_energy": p["mult_energy_pj"] / b["mult_energy_pj"],
                "ext_bytes": p["ext_bytes"] / b["ext_bytes"],
            }
    design_ratios = {cfg.name: {"area": designs[pan]["area"] / designs[cfg.name]["area"],
                                "pp_bits": designs[pan]["pp_bits"] / designs[cfg.name]["pp_bits"],
                                "fmax": _ratio(designs[pan]["fmax_mhz"], designs[cfg.name]["fmax_mhz"])}
                     for cfg in cfgs[1:]}
    if target == "generic":         # the whole core, weight-buffer bit cells included
        for cfg in cfgs[1:]:
            design_ratios[cfg.name]["area_with_memory"] = (
                designs[pan]["transistors_with_memory"] / designs[cfg.name]["transistors_with_memory"])

    runtime["total"] = round(time.perf_counter() - t_start, 1)
    d = CompareResult(base=base, target=target, sim=sim, basis=basis, area_unit=area_unit,
                      throughput_unit=tp_unit, notes=notes, out_dir=str(out), designs=designs,
                      design_ratios=design_ratios, workload_order=list(wl_out),
                      workloads=wl_out, ratios=ratios, runtime_s=runtime)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "compare.json", to_json(d.to_dict()))
    _say(progress, f"done in {runtime['total']:.0f} s -> {out / 'compare.json'}")
    return d


# ---- report --------------------------------------------------------------------------------
def _design_names(d):
    """Design names in variant order (panacea, sibia, dense)."""
    return sorted(d.designs, key=lambda n: _VARIANT_ORDER.index(d.designs[n]["variant"]))


def _workload_names(d):
    return [w for w in d.workload_order if w in d.workloads]


def _table(rows, headers, left=1):
    """Columns right-aligned except the first ``left``."""
    rows = [[("-" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def fmt(cells):
        return "  ".join(c.ljust(w) if i < left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def _sig(x, digits=3):
    """A float with ``digits`` significant digits, scientific when tiny or huge."""
    if x is None:
        return None
    if x == 0:
        return "0"
    e = math.floor(math.log10(abs(x)))
    if -3 <= e < 6:
        return f"{x:.{max(0, digits - 1 - e)}f}"
    return f"{x:.{digits - 1}e}"


def format_compare(d) -> str:
    """A readable report of a :func:`run_compare` result (:class:`CompareResult`, also one
    read back with :meth:`CompareResult.from_dict`): designs, workloads, ratios."""
    target = d.target
    names = _design_names(d)
    designs = {n: d.designs[n] for n in names}
    pan = names[0]
    lines = [f"panacea compare: {pan} vs {', '.join(names[1:])}; area {target}, "
             f"GEMMs on {d.sim}, {d.runtime_s.get('total', 0):.0f} s", ""]
    for n in d.notes:
        lines.append(f"note: {n}")
    lines.append("")

    # designs
    if target == "ecp5":
        hdr = ["design", "variant", "mode", "LUT4 eq", "LUT4", "CCU2C", "FF", "BRAM", "DSP",
               "Fmax MHz", "PP bits/col", "PP bits", "synth"]
        rows = [[n, v["variant"], v["mode"], f"{v['LUT4_equiv']:,}", f"{v['LUT4']:,}",
                 f"{v['CCU2C']:,}", f"{v['FF']:,}", v["BRAM"], v["DSP"],
                 None if v["fmax_mhz"] is None else f"{v['fmax_mhz']:.2f}",
                 v["pp_bits_per_col"], f"{v['pp_bits']:,}", "cached" if v["cached"] else "run"]
                for n, v in designs.items()]
    else:
        hdr = ["design", "variant", "mode", "cells", "FFs", "logic transistors", "memory bits",
               "+ bit cells", "PP bits/col", "PP bits", "synth"]
        rows = [[n, v["variant"], v["mode"], f"{v['cells']:,}", f"{v['flip_flops']:,}",
                 f"{v['transistors']:,}", f"{v['memory_bits']:,}",
                 f"{v['transistors_with_memory']:,}", v["pp_bits_per_col"], f"{v['pp_bits']:,}",
                 "cached" if v["cached"] else "run"]
                for n, v in designs.items()]
    lines += ["designs", _table(rows, hdr, left=3), ""]

    # workloads
    tp = f"{d.throughput_unit}/{d.area_unit}"
    hdr = ["workload", "design", "cycles", "time us", "skipped", "energy nJ", "mult nJ",
           "ext bytes", d.throughput_unit, tp]
    rows = []
    for wname in _workload_names(d):
        w = d.workloads[wname]
        label = f"{wname} {w['M']}x{w['K']}x{w['N']} z={w['z']} L={w['L']} r={w['r']}"
        for i, n in enumerate(names):
            v = w["designs"][n]
            rows.append([label if i == 0 else "", n, v["cycles"],
                         None if v["time_us"] is None else f"{v['time_us']:.2f}",
                         f"{100 * v['frac_vectors_skipped']:.1f}%",
                         f"{v['energy_pj'] / 1e3:.1f}", f"{v['mult_energy_pj'] / 1e3:.2f}",
                         v["ext_bytes"], _sig(v["throughput"]), _sig(v["throughput_per_area"])])
    lines += ["workloads (each GEMM bit-exact on the RTL, cycles equal to the cycle model)"
              if d.sim != "golden" else "workloads (cycle model only, no RTL)",
              _table(rows, hdr, left=2), ""]

    # ratios
    hdr = ["workload", "vs", "speedup", "perf/area", "energy", "mult energy", "ext bytes"]
    rows = []
    for wname in _workload_names(d):
        for i, b in enumerate(names[1:]):
            v = d.ratios[wname][b]
            rows.append([wname if i == 0 else "", b, f"{v['speedup']:.2f}x",
                         f"{v['perf_per_area']:.2f}x", f"{v['energy']:.3f}",
                         f"{v['mult_energy']:.3f}", f"{v['ext_bytes']:.3f}"])
    lines += [f"{pan} relative to each baseline (speedup = baseline cycles / {pan} cycles; "
              f"perf/area = {pan}'s {tp} / the baseline's, > 1 is better; "
              f"energy, mult energy, ext bytes = {pan}'s / the baseline's, < 1 is better)",
              _table(rows, hdr, left=2), ""]
    gen = target == "generic"
    drows = [[b, f"{v['area']:.3f}"] + ([f"{v['area_with_memory']:.3f}"] if gen else [])
             + [f"{v['pp_bits']:.3f}", None if v["fmax"] is None else f"{v['fmax']:.3f}"]
             for b, v in ((b, d.design_ratios[b]) for b in names[1:])]
    hdr = (["vs", f"area ({'logic transistors' if gen else 'LUT4 eq'})"]
           + (["with bit cells"] if gen else []) + ["PP bits", "Fmax"])
    lines += [f"{pan} / baseline, per design", _table(drows, hdr)]
    return "\n".join(lines)


# ---- plots ---------------------------------------------------------------------------------
def plot_compare(d, out_dir=None) -> list:
    """Bar charts normalised to the dense baseline, as PNG and SVG; returns the paths.

    ``compare_cycles``: cycles per workload and design; ``compare_perf_area``: throughput per
    area; ``compare_energy``: energy per GEMM, total and multiplies. ``out_dir`` defaults to
    ``d.out_dir`` (where :func:`run_compare` wrote ``compare.json``, written here too).
    """
    from matplotlib.figure import Figure

    out = Path(out_dir if out_dir is not None else d.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "compare.json", to_json(d.to_dict()))
    names = _design_names(d)
    dense = names[-1]
    wnames = _workload_names(d)
    colors = {"panacea": "#1f77b4", "sibia": "#ff7f0e", "dense": "#7f7f7f"}

    def norm(key):
        return {n: [d.workloads[w]["designs"][n][key] / d.workloads[w]["designs"][dense][key]
                    for w in wnames] for n in names}

    def bars(ax, values, ylabel, title):
        x = np.arange(len(wnames))
        width = 0.8 / len(names)
        for i, n in enumerate(names):
            v = values[n]
            b = ax.bar(x + (i - (len(names) - 1) / 2) * width, v, width,
                       label=f"{n} ({d.designs[n]['mode']})",
                       color=colors[d.designs[n]["variant"]])
            ax.bar_label(b, labels=[f"{y:.2f}" for y in v], fontsize=7, padding=1)
        ax.axhline(1.0, color="black", lw=0.6, ls=":")
        ax.set_xticks(x, [w.replace("minilm:", "minilm\n") for w in wnames], fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(0, max(max(v) for v in values.values()) * 1.3)
        ax.legend(fontsize=8, ncols=len(names), loc="upper center")

    sub = f"{d.base}, area {d.target}, {d.sim}"
    figs = {}
    fig = Figure(figsize=(max(6, 1.6 * len(wnames) + 3), 4), layout="constrained")
    bars(fig.add_subplot(), norm("cycles"), f"cycles, x {dense} (lower is better)",
         f"RTL cycles per GEMM, normalised to {dense} ({sub})")
    figs["compare_cycles"] = fig

    fig = Figure(figsize=(max(6, 1.6 * len(wnames) + 3), 4), layout="constrained")
    bars(fig.add_subplot(), norm("throughput_per_area"),
         f"{d.throughput_unit}/{d.area_unit}, x {dense} (higher is better)",
         f"throughput per area, normalised to {dense} ({sub})")
    figs["compare_perf_area"] = fig

    fig = Figure(figsize=(max(6, 1.6 * len(wnames) + 3), 7.5), layout="constrained")
    bars(fig.add_subplot(2, 1, 1), norm("energy_pj"), f"x {dense} (lower is better)",
         "energy per GEMM (total estimate)")
    bars(fig.add_subplot(2, 1, 2), norm("mult_energy_pj"), f"x {dense} (lower is better)",
         "multiply energy per GEMM")
    fig.suptitle(f"energy normalised to {dense} ({sub})", fontsize=10)
    figs["compare_energy"] = fig

    paths = []
    for stem, fig in figs.items():
        for ext in ("png", "svg"):
            p = out / f"{stem}.{ext}"
            fig.savefig(p, dpi=120, metadata={"Date": None} if ext == "svg" else None)
            paths.append(p)
    return paths
