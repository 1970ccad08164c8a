"""MiniLM-L6 on the generated RTL: the integer GEMM of every linear layer runs on the core.

For each of the 36 linear layers the golden quantized path
(:class:`golden_model.minilm.QuantizedLinear`, default ZPM+DBS) calibrates, slices and computes
the exact AQS-GEMM; then the same integer GEMM (``A``, ``W``, z, L, r) runs on the RTL, cut
into column chunks (multiples of the design's columns) that are fanned out over a Dask client.
Each chunk goes through :func:`panacea_hdl.flows.jobs.run_gemm_job` (host-tiled where the layer
exceeds the design; bit-exact and cycle-exact or it raises), and the layer's output is
dequantized from the result the RTL sent. The sentence embeddings are therefore those of the
RTL; :func:`run_minilm_rtl` also runs the golden path and reports whether they are equal bit for
bit.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from golden_model.config import PanaceaConfig
from golden_model.quant import dequantize_output

from panacea_hdl.flows.jobs import RTL_SIMS, RTLMismatch

__all__ = ["RTLLinear", "run_minilm_rtl", "format_minilm_rtl"]


def _chunk_task(cfg, A, W, z, L, r, sim):
    """One column chunk of a layer on the RTL (runs on a Dask worker)."""
    from panacea_hdl.flows.jobs import run_gemm_job

    t0 = time.perf_counter()
    rep = run_gemm_job(cfg, A, W, z, mode="aqs", L=L, r=r, sim=sim)
    return {"Y": rep.Y, "cycles": int(rep.counters["cycles"]),
            "tiles": len(rep.tiles), "wall_s": time.perf_counter() - t0,
            "worker": f"{os.uname().nodename}:{os.getpid()}"}


class RTLLinear:
    """MiniLM linear hook (``hook(name, x, w, b) -> y``) whose integer GEMMs run on the RTL.

    Parameters
    ----------
    cfg : PanaceaConfig
        The design the layers run on.
    sim : {"verilator", "icarus"}
    client : distributed.Client
        Where the column chunks run.
    path : str
        The quantized MiniLM path (:data:`golden_model.minilm.PATHS`, not ``fp32``).
    chunks : int
        Column chunks per layer (default: the client's workers).

    Attributes
    ----------
    golden : golden_model.minilm.QuantizedLinear
        The golden hook (its ``records`` hold each layer's integer GEMM).
    layers : dict
        name -> ``{"M", "K", "N", "chunks", "tiles", "cycles", "wall_s", "runs"}`` (``runs``:
        per chunk, the worker, its cycles and wall seconds).
    """

    def __init__(self, *, cfg: PanaceaConfig, sim, client, path="w8a8_asym_zpm_dbs",
                 chunks=None):
        from golden_model.minilm import QuantizedLinear

        if sim not in RTL_SIMS:
            raise ValueError(f"sim must be one of {RTL_SIMS}, got {sim!r}")
        self.golden = QuantizedLinear(path, cfg=cfg)
        self.cfg, self.sim, self.client = cfg, sim, client
        self.chunks = chunks or max(1, len(client.scheduler_info().get("workers", {})))
        self.layers = {}

    def __call__(self, name, x, w, b):
        self.golden(name, x, w, b)
        rec = self.golden.records[name]
        A, W, Y = rec["A"], rec["W"], rec["Y"]
        cfg, N = self.cfg, W.shape[1]
        step = math.ceil(math.ceil(N / cfg.cols) / self.chunks) * cfg.cols
        cuts = [(a, min(a + step, N)) for a in range(0, N, step)]
        futures = [self.client.submit(_chunk_task, cfg, A, W[:, a:c], rec["z"], rec["L"],
                                      rec["r"], self.sim, pure=False) for a, c in cuts]
        results = self.client.gather(futures)
        Y_rtl = np.concatenate([res["Y"] for res in results], axis=1)
        if not np.array_equal(Y_rtl, Y):      # run_gemm_job checked each chunk on the RTL
            raise RTLMismatch(f"MiniLM layer {name}: the column chunks do not assemble to the "
                              "layer's golden result")
        self.layers[name] = {
            "M": int(A.shape[0]), "K": int(A.shape[1]), "N": int(N), "chunks": len(cuts),
            "tiles": sum(res["tiles"] for res in results),
            "cycles": sum(res["cycles"] for res in results),
            "wall_s": sum(res["wall_s"] for res in results),
            "runs": [{k: res[k] for k in ("worker", "cycles", "wall_s")} for res in results],
        }
        # the layer's output from the RTL's integers, as the golden path dequantizes its own
        y = dequantize_output(Y_rtl, rec["scale"], rec["w_scale"])
        return y + b.astype(np.float64)[None, :] if b is not None else y


def run_minilm_rtl(sentences, *, cfg: PanaceaConfig, sim="verilator", client,
                   path="w8a8_asym_zpm_dbs", model=None) -> dict:
    """Sentence embeddings of MiniLM-L6 with every linear layer on the RTL.

    Returns
    -------
    dict
        ``sentences``, ``config``, ``sim``, ``path``, ``embeddings`` (B x 384 float32, from
        the RTL), ``equal_to_golden`` (bit for bit against the golden path),
        ``max_abs_diff``, ``layers`` (per layer: shape, chunks, tiles, cycles, wall time),
        ``workers`` (per worker: runs, cycles, wall seconds, cycles per second), ``cycles``,
        ``wall_s``.
    """
    from golden_model.minilm import forward, load_minilm

    model = model or load_minilm()
    t0 = time.perf_counter()
    hook = RTLLinear(cfg=cfg, sim=sim, client=client, path=path)
    emb = forward(sentences, linear=hook, model=model)
    wall = time.perf_counter() - t0
    golden = forward(sentences, path=path, cfg=cfg, model=model)
    workers = {}                 # per worker: its chunks' own cycles and wall time
    for rec in hook.layers.values():
        for run in rec["runs"]:
            v = workers.setdefault(run["worker"], {"runs": 0, "cycles": 0, "wall_s": 0.0})
            v["runs"] += 1
            v["cycles"] += run["cycles"]
            v["wall_s"] += run["wall_s"]
    for v in workers.values():
        v["cycles_per_s"] = v["cycles"] / v["wall_s"] if v["wall_s"] else None
    return {
        "sentences": list(sentences), "config": cfg.to_dict(), "sim": sim, "path": path,
        "embeddings": emb, "equal_to_golden": bool(np.array_equal(emb, golden)),
        "max_abs_diff": float(np.abs(emb - golden).max()),
        "layers": hook.layers, "workers": workers,
        "cycles": int(sum(r["cycles"] for r in hook.layers.values())), "wall_s": wall,
    }


def format_minilm_rtl(d: dict) -> str:
    """A short summary of :func:`run_minilm_rtl`."""
    lines = [f"MiniLM-L6 on the RTL ({d['config']['name']}, {d['sim']}, path {d['path']}): "
             f"{len(d['layers'])} linear layers, {d['cycles']:,} simulated cycles, "
             f"{d['wall_s']:.1f} s wall",
             f"embeddings equal to the golden AQS path bit for bit: {d['equal_to_golden']} "
             f"(max |diff| {d['max_abs_diff']:.3g})"]
    for wk, v in sorted(d["workers"].items()):
        rate = f"{v['cycles_per_s']:,.0f}" if v["cycles_per_s"] else "-"
        lines.append(f"  worker {wk}: {v['runs']} runs, {v['cycles']:,.0f} cycles, "
                     f"{v['wall_s']:.1f} s, {rate} cycles/s (whole run_gemm_job calls)")
    return "\n".join(lines)
