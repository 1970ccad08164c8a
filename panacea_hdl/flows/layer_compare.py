"""``panacea compare --workload minilm-layers``: whole MiniLM-L6 layers, Panacea and baselines.

For a base preset the three designs of :func:`panacea_hdl.flows.compare.run_compare` (Panacea
``<base>`` in ``aqs`` mode, ``<base>_sibia`` in ``sibia``, ``<base>_dense`` in ``dense``) each
run the 36 whole linear layers of MiniLM-L6 at a real token count
(:func:`golden_model.layer_report.minilm_layer_inputs`: M = tokens, the layer's K x N, z, L
and r of the ZPM + DBS path; the same GEMMs on every design). Per layer and design the golden
cycle model gives cycles, the tiling (row blocks, K slices), external bytes beside the
compulsory minimum and the energy split on chip / external
(:func:`golden_model.layer_report.layer_figures`, sums over the tiles). A representative set of
layers (default one per kind of encoder layer 2) also runs on the RTL through
:func:`panacea_hdl.flows.jobs.run_gemm_job` (bit-exact, every counter equal to the cycle model,
tile by tile), and its summed counters must equal the whole-layer figures.

No synthesis: the whole-layer report is cycles, bytes and energy (areas are in the tile
comparisons of ``run_compare``). ``docs/compare.md`` ("Whole MiniLM layers") explains it.

Example::

    >>> d = run_layer_compare("default", tokens=65, sim="golden")
    >>> print(format_layer_compare(d))
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from golden_model.fileio import atomic_write_text, to_json
from golden_model.layer_report import (DEFAULT_TOKENS, LAYER_PATH, check_tokens, layer_figures,
                                       minilm_layer_inputs)
from golden_model.minilm import KIND_GROUPS, REPRESENTATIVE_LAYERS, layer_names

from panacea_hdl.paths import build_root

__all__ = ["run_layer_compare", "format_layer_compare", "LAYER_SIMS", "TARGETS_ISSUE14",
           "DEFAULT_RTL_LAYERS"]

#: Where the representative layers run (``golden``: none on the RTL).
LAYER_SIMS = ("verilator", "icarus", "golden")
#: Layers run on the RTL unless told otherwise: one per kind of encoder layer 2.
DEFAULT_RTL_LAYERS = REPRESENTATIVE_LAYERS
#: Issue 14's targets checked by :func:`format_layer_compare` (stated in ``docs/compare.md``).
TARGETS_ISSUE14 = {
    "ext_over_compulsory_max": 1.15,       # every design, every layer whose activations fit
    "act_bytes_vs_dense_max": 0.75,        # Panacea lo + ho / INT8, q/k/v/attn_out/ffn_in
    "energy_vs_dense_max": 1.0,            # every layer (aim 0.9)
    "energy_vs_dense_aim": 0.9,
    "energy_vs_sibia_max": 0.75,           # q/k/v/attn_out/ffn_in
}
_SPARSE_KINDS = ("q", "k", "v", "attn_out", "ffn_in")
_SUM_KEYS = ("cycles", "ext_bytes", "act_bytes", "weight_bytes", "out_bytes")
_ENERGY_KEYS = ("multiplies", "accumulate", "compensator", "weight_buffer", "act_buffer",
                "on_chip", "external", "total")


def _say(progress, msg):
    if progress:
        print(f"[compare] {msg}", file=sys.stderr, flush=True)


def _check_rtl_layers(rtl_layers):
    if rtl_layers is None:
        return list(DEFAULT_RTL_LAYERS)
    names = layer_names()
    if isinstance(rtl_layers, str):
        if rtl_layers.strip() == "all":
            return names
        rtl_layers = [s.strip() for s in rtl_layers.split(",") if s.strip()]
    if not rtl_layers:
        raise ValueError("no layer given for the RTL (names like L2.q, or all)")
    bad = [n for n in rtl_layers if n not in names]
    if bad:
        raise ValueError(f"unknown MiniLM layer name(s) {bad}; names are L0.q ... L5.ffn_out "
                         f"(kinds {', '.join(('q', 'k', 'v', 'attn_out', 'ffn_in', 'ffn_out'))})")
    if len(set(rtl_layers)) != len(rtl_layers):
        raise ValueError(f"a layer is given twice in {rtl_layers}")
    return list(rtl_layers)


def _sum(entries):
    """Sums of the additive figures of a list of layer figures (one design)."""
    out = {k: sum(e[k] for e in entries) for k in _SUM_KEYS}
    out["compulsory"] = sum(e["compulsory"]["total"] for e in entries)
    out["compulsory_act"] = sum(e["compulsory"]["activations"] for e in entries)
    out["energy_pj"] = {k: sum(e["energy_pj"].get(k, 0.0) for e in entries) for k in _ENERGY_KEYS}
    out["ext_over_compulsory"] = out["ext_bytes"] / out["compulsory"]
    return out


def _ratios(p, b):
    """Panacea's figures over a baseline's (both from :func:`_sum` or one layer)."""
    return {"speedup": b["cycles"] / p["cycles"],
            "energy": p["energy_pj"]["total"] / b["energy_pj"]["total"],
            "on_chip_energy": p["energy_pj"]["on_chip"] / b["energy_pj"]["on_chip"],
            "external_energy": p["energy_pj"]["external"] / b["energy_pj"]["external"],
            "ext_bytes": p["ext_bytes"] / b["ext_bytes"],
            "act_bytes": p["act_bytes"] / b["act_bytes"]}


def run_layer_compare(base="default", *, tokens=DEFAULT_TOKENS, sim="golden", rtl_layers=None,
                      out_dir=None, progress=False, model=None) -> dict:
    """Whole MiniLM-L6 layers at ``tokens`` tokens on ``base`` and its two baselines.

    Parameters
    ----------
    base : str
        Panacea preset with baselines (``tiny``, ``default``, ...).
    tokens : int
        M of every layer, 1 .. :data:`golden_model.layer_report.MAX_TOKENS`.
    sim : {"golden", "verilator", "icarus"}
        ``golden``: the cycle model only. Otherwise ``rtl_layers`` also run on that simulator.
    rtl_layers : sequence of str or comma-separated str, optional
        Layers run on the RTL (default :data:`DEFAULT_RTL_LAYERS`; ``"all"``: the 36);
        ignored with ``golden``.
    out_dir : path, optional
        Where ``compare_layers.json`` goes (default ``<build>/compare/<base>_layers_<tokens>``).

    Returns
    -------
    dict
        ``base, tokens, sim, path, designs`` (name -> variant, mode), ``layer_order``,
        ``layers`` (name -> kind, group, M, K, N, z, L, r and per design the
        :func:`~golden_model.layer_report.layer_figures`), ``kinds`` and ``totals`` (per design
        sums, per-kind and whole-model Panacea / baseline ratios), ``rtl`` (layer -> design
        -> RTL cycles, equal to the model), ``runtime_s``, ``out_dir``.
    """
    from tqdm import tqdm

    from panacea_hdl.flows.compare import BEST_MODE, _designs

    t_start = time.perf_counter()
    tokens = check_tokens(tokens)
    if sim not in LAYER_SIMS:
        raise ValueError(f"unknown simulator {sim!r}; choose one of {list(LAYER_SIMS)}")
    cfgs = _designs(base)
    rtl = [] if sim == "golden" else _check_rtl_layers(rtl_layers)
    for cfg in cfgs[1:]:
        if tuple(cfg.splits) != tuple(cfgs[0].splits):
            raise ValueError(f"{cfg.name} supports splits {cfg.splits}, {cfgs[0].name} "
                             f"{cfgs[0].splits}: the layers' L must run on every design")
    out = Path(out_dir) if out_dir is not None else (build_root() / "compare"
                                                     / f"{base}_layers_{tokens}")
    runtime = {}
    t0 = time.perf_counter()
    _say(progress, f"MiniLM-L6 layer inputs at {tokens} tokens ({LAYER_PATH})")
    recs = minilm_layer_inputs(tokens, cfgs[0], model=model)
    runtime["layer_inputs"] = round(time.perf_counter() - t0, 1)

    t0 = time.perf_counter()
    layers = {}
    bar = tqdm(total=len(recs) * len(cfgs), desc=f"cycle model {base} x{len(cfgs)}",
               unit="layer", file=sys.stderr, disable=not progress)
    for rec in recs:
        e = {k: rec[k] for k in ("kind", "group", "M", "K", "N", "z", "L", "r")}
        e["designs"] = {}
        for cfg in cfgs:
            e["designs"][cfg.name] = layer_figures(rec["A"], rec["N"], mode=BEST_MODE[cfg.variant],
                                                   L=rec["L"], r=rec["r"], cfg=cfg)
            bar.update()
        layers[rec["name"]] = e
    bar.close()
    runtime["cycle_model"] = round(time.perf_counter() - t0, 1)

    # ---- the representative layers on the RTL ------------------------------------------------
    rtl_out = {}
    if rtl:
        from panacea_hdl.flows.jobs import RTLMismatch, run_gemm_job

        by_name = {r["name"]: r for r in recs}
        runtime["rtl"] = {}
        for name in rtl:
            rec = by_name[name]
            rtl_out[name] = {}
            for cfg in cfgs:
                mode = BEST_MODE[cfg.variant]
                _say(progress, f"{name} {rec['M']}x{rec['K']}x{rec['N']} on {cfg.name} "
                               f"({mode}, {sim})")
                t0 = time.perf_counter()
                rep = run_gemm_job(cfg, rec["A"], rec["W"], rec["z"], mode=mode, L=rec["L"],
                                   r=rec["r"], sim=sim)
                runtime["rtl"][f"{name}/{cfg.name}"] = round(time.perf_counter() - t0, 1)
                model_c = layers[name]["designs"][cfg.name]["counters"]
                got = {k: int(v) for k, v in rep.counters.items()}
                if got != model_c:
                    diff = {k: (got.get(k), model_c.get(k)) for k in set(got) | set(model_c)
                            if got.get(k) != model_c.get(k)}
                    raise RTLMismatch(f"{name} on {cfg.name}: RTL counters (summed over the "
                                      f"tiles) differ from the whole-layer model: {diff}")
                rtl_out[name][cfg.name] = {"cycles": got["cycles"], "tiles": len(rep.tiles),
                                           "harness": rep.rtl.harness,
                                           "cycles_per_second": rep.rtl.cycles_per_second,
                                           "bit_exact": True, "counters_equal": True}

    # ---- sums and ratios ------------------------------------------------------------------------
    names = [c.name for c in cfgs]
    pan = names[0]
    per = {n: [layers[x]["designs"][n] for x in layers] for n in names}
    totals = {"designs": {n: _sum(per[n]) for n in names}}
    totals["ratios"] = {b: _ratios(totals["designs"][pan], totals["designs"][b]) for b in names[1:]}
    kinds = {}
    for g in KIND_GROUPS:
        sel = [x for x in layers if layers[x]["group"] == g]
        s = {n: _sum([layers[x]["designs"][n] for x in sel]) for n in names}
        kinds[g] = {"layers": len(sel), "designs": s,
                    "ratios": {b: _ratios(s[pan], s[b]) for b in names[1:]}}
    for x, e in layers.items():
        p = e["designs"][pan]
        e["ratios"] = {b: _ratios(p, e["designs"][b]) for b in names[1:]}
    runtime["total"] = round(time.perf_counter() - t_start, 1)
    d = {"base": base, "tokens": tokens, "sim": sim, "path": LAYER_PATH,
         "designs": {c.name: {"variant": c.variant, "mode": BEST_MODE[c.variant],
                              "config": c.to_dict()} for c in cfgs},
         "layer_order": list(layers), "layers": layers, "kinds": kinds, "totals": totals,
         "rtl": rtl_out, "targets": targets(layers, names), "runtime_s": runtime,
         "out_dir": str(out)}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "compare_layers.json", to_json(d))
    _say(progress, f"done in {runtime['total']:.0f} s -> {out / 'compare_layers.json'}")
    return d


def targets(layers: dict, names: list) -> dict:
    """Issue 14's targets (:data:`TARGETS_ISSUE14`) on these layers: the worst value and the
    layer at which it occurs, and whether it is met."""
    pan, sib, den = names
    t = TARGETS_ISSUE14
    out = {}

    def worst(sel, value):
        vals = [(value(x), x) for x in sel]
        return max(vals) if vals else (None, None)

    for n in names:
        fit = [x for x in layers if layers[x]["designs"][n]["row_blocks"] == 1
               and layers[x]["designs"][n]["k_slices"] == 1]
        v, at = worst(fit, lambda x: layers[x]["designs"][n]["ext_over_compulsory"])
        lim = t["ext_over_compulsory_max"]
        out[f"ext_over_compulsory:{n}"] = {"worst": v, "at": at, "limit": lim, "layers": len(fit),
                                           "met": None if v is None else v <= lim}
    sparse = [x for x in layers if layers[x]["kind"] in _SPARSE_KINDS]
    for key, sel, get, lim in (
            ("act_bytes_vs_dense", sparse, lambda x: layers[x]["ratios"][den]["act_bytes"],
             t["act_bytes_vs_dense_max"]),
            ("energy_vs_dense", list(layers), lambda x: layers[x]["ratios"][den]["energy"],
             t["energy_vs_dense_max"]),
            ("energy_vs_sibia", sparse, lambda x: layers[x]["ratios"][sib]["energy"],
             t["energy_vs_sibia_max"])):
        v, at = worst(sel, get)
        out[key] = {"worst": v, "at": at, "limit": lim, "layers": len(sel),
                    "met": None if v is None else v <= lim}
    return out


# ---- report ----------------------------------------------------------------------------------
def _table(rows, headers, left=1):
    from panacea_hdl.flows.compare import _table as table
    return table(rows, headers, left=left)


def format_layer_compare(d: dict, *, per_layer=True) -> str:
    """A readable report of :func:`run_layer_compare`'s dict."""
    order = ("panacea", "sibia", "dense")      # also for a dict read back from sorted JSON
    names = sorted(d["designs"], key=lambda n: order.index(d["designs"][n]["variant"]))
    pan = names[0]
    lines = [f"panacea compare: whole MiniLM-L6 layers, {d['tokens']} tokens, {pan} vs "
             f"{', '.join(names[1:])} ({', '.join(d['designs'][n]['mode'] for n in names)}); "
             f"path {d['path']}; cycle model for all {len(d['layers'])} layers"
             + (f", RTL ({d['sim']}) for {', '.join(d['rtl'])}" if d["rtl"] else "")
             + f"; {d['runtime_s'].get('total', 0):.0f} s", ""]
    if per_layer:
        hdr = ["layer", "design", "tiles", "cycles", "ext bytes", "compulsory", "ext/comp",
               "act bytes", "mult nJ", "acc nJ", "comp nJ", "wbuf nJ", "abuf nJ", "on-chip nJ",
               "external nJ", "total nJ"]
        rows = []
        for x in d["layer_order"]:
            e = d["layers"][x]
            label = f"{x} {e['M']}x{e['K']}x{e['N']} z={e['z']} L={e['L']} r={e['r']}"
            for i, n in enumerate(names):
                v = e["designs"][n]
                en = v["energy_pj"]
                rows.append([label if i == 0 else "", n,
                             f"{v['row_blocks']}x{v['k_slices']}", v["cycles"], v["ext_bytes"],
                             v["compulsory"]["total"], f"{v['ext_over_compulsory']:.3f}",
                             v["act_bytes"]] + [f"{en[k] / 1e3:.1f}" for k in _ENERGY_KEYS])
        lines += ["per layer and design (tiles = row blocks x K slices; energy from the cycle "
                  "model, on-chip = multiplies + accumulate + compensator + weight buffer + "
                  "activation buffer)", _table(rows, hdr, left=2), ""]

    def sums_table(title, groups):
        hdr = ["", "design", "cycles", "ext bytes", "compulsory", "ext/comp", "act bytes",
               "on-chip uJ", "external uJ", "total uJ", "external share"]
        rows = []
        for g, s in groups:
            for i, n in enumerate(names):
                v = s[n]
                en = v["energy_pj"]
                rows.append([g if i == 0 else "", n, v["cycles"], v["ext_bytes"], v["compulsory"],
                             f"{v['ext_over_compulsory']:.3f}", v["act_bytes"],
                             f"{en['on_chip'] / 1e6:.2f}", f"{en['external'] / 1e6:.2f}",
                             f"{en['total'] / 1e6:.2f}", f"{en['external'] / en['total']:.3f}"])
        return [title, _table(rows, hdr, left=2), ""]

    kinds = [g for g in KIND_GROUPS if g in d["kinds"]]
    groups = [(g, d["kinds"][g]["designs"]) for g in kinds]
    groups.append(("model", d["totals"]["designs"]))
    lines += sums_table("per kind (summed over its layers) and the whole model", groups)

    hdr = ["", "vs", "speedup", "energy", "on-chip energy", "external energy", "ext bytes",
           "act bytes"]
    rows = []
    for g, r in [(g, d["kinds"][g]["ratios"]) for g in kinds] + [("model", d["totals"]["ratios"])]:
        for i, b in enumerate(names[1:]):
            v = r[b]
            rows.append([g if i == 0 else "", b, f"{v['speedup']:.2f}x", f"{v['energy']:.3f}",
                         f"{v['on_chip_energy']:.3f}", f"{v['external_energy']:.3f}",
                         f"{v['ext_bytes']:.3f}", f"{v['act_bytes']:.3f}"])
    lines += [f"{pan} relative to each baseline (speedup = baseline cycles / {pan}'s; the "
              f"others {pan}'s / the baseline's, < 1 is better)", _table(rows, hdr, left=2), ""]

    blocked = [(x, n, d["layers"][x]["designs"][n]) for x in d["layer_order"] for n in names
               if d["layers"][x]["designs"][n]["best_blocking"]]
    if blocked:
        hdr = ["layer", "design", "row blocks (rows)", "ext/comp", "data-fit blocks", "ext/comp",
               "pooled-buffer blocks", "ext/comp"]
        rows = []
        for x, n, v in blocked:
            b, c = v["best_blocking"], v["compulsory"]["total"]
            rows.append([x, n, f"{v['row_blocks']} ({v['rows_per_block']})",
                         f"{v['ext_over_compulsory']:.3f}", b["data_row_blocks"],
                         f"{b['data_ext_bytes'] / c:.3f}", b["pooled_row_blocks"],
                         f"{b['pooled_ext_bytes'] / c:.3f}"])
        lines += ["layers cut into row blocks for the activation buffer: the blocking chosen "
                  "(worst case fit), the fewest blocks the real data needs in the buffer's "
                  "lo/ho parts, and with the buffer as one pool", _table(rows, hdr, left=2), ""]

    if d["rtl"]:
        hdr = ["layer", "design", "RTL cycles", "tiles", "run s"]
        rows = [[x if i == 0 else "", n, v["cycles"], v["tiles"],
                 d["runtime_s"]["rtl"].get(f"{x}/{n}")]
                for x, r in d["rtl"].items() for i, (n, v) in enumerate(r.items())]
        lines += [f"on the RTL ({d['sim']}): bit-exact, every counter of every tile equal to "
                  "the cycle model, summed counters equal to the whole-layer figures",
                  _table(rows, hdr, left=2), ""]

    hdr = ["target", "limit", "worst", "at", "layers", "met"]
    tnames = [f"ext_over_compulsory:{n}" for n in names] + [
        "act_bytes_vs_dense", "energy_vs_dense", "energy_vs_sibia"]
    rows = [[k, f"{v['limit']:.2f}", None if v["worst"] is None else f"{v['worst']:.3f}",
             v["at"], v["layers"], {True: "yes", False: "NO", None: "n/a"}[v["met"]]]
            for k, v in ((k, d["targets"][k]) for k in tnames)]
    lines += ["issue 14 targets (ext/comp on layers whose activations fit the buffer; act bytes "
              "and energy vs sibia on q/k/v/attn_out/ffn_in; energy vs dense on every layer)",
              _table(rows, hdr, left=1)]
    return "\n".join(lines)
