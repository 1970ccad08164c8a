"""``panacea sweep``: a design-space sweep over generator parameters x workloads, on Dask.

A *spec* (JSON or YAML, :func:`load_spec`) names a base config, a grid over any fields of
:class:`golden_model.config.PanaceaConfig` (plus explicit points and an optional random sample),
the workloads (names :func:`panacea_hdl.flows.compare.make_workloads` knows, or ``.npz`` files), where
each workload runs (cycle model or RTL) and which syntheses to make. ``docs/sweep.md`` documents
the format.

Engine
------
Every point is one Dask task (:func:`_point_task`). By default the command starts an embedded
``distributed.LocalCluster`` (one single-threaded worker process per core) and closes it at the
end; with ``scheduler="tcp://host:8786"`` it connects to an existing cluster instead. A task runs
its point in a child process (``python -m panacea_hdl.flows.sweep DIR``) so that a timeout can kill
the point with its simulator, and a crash cannot take the worker down. Builds go to
:func:`panacea_hdl.paths.design_dir` of the point's config under the build root passed in the
task (``PANACEA_BUILD_DIR``); each point's config has its own name ``sw_<digest>``, so points
never share a build directory, and the project's locks make concurrent builds of one design safe.

Caching
-------
Each finished item of a point (one synthesis target, or one workload entry) is written by the
client to ``<out>/points/<point name>/<item key>.json`` as soon as its task returns. A re-run
submits only the items without a cache file (failed ones too with ``retry_failed``), so a
killed sweep continues where it stopped.

Example::

    >>> d = run_sweep(load_spec("sweep.yaml"), out_dir="build/sweep/demo", workers=2)
    >>> print(format_summary(d))
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import itertools
import json
import logging
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from golden_model.config import PanaceaConfig, preset
from golden_model.fileio import atomic_write_text, to_json

from panacea_hdl.paths import BUILD_DIR_ENV, build_root

__all__ = ["DaskEngine", "load_spec", "parse_spec", "SweepSpec", "run_sweep", "format_summary", "pareto_front",
           "plot_pareto", "point_name", "CONFIG_FIELDS", "SPEC_KEYS", "SIMS", "SYNTH_TARGETS",
           "TABLE_COLUMNS"]

#: Config fields a sweep may vary: every field of PanaceaConfig except the name (which the
#: sweep sets per point). A field added to PanaceaConfig is sweepable without code changes.
CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(PanaceaConfig) if f.name != "name")
#: Top-level keys of a spec.
SPEC_KEYS = ("name", "base", "grid", "points", "sample", "add_baselines", "workloads", "sim",
             "synth", "area", "timeout")
#: Where a workload runs: the cycle model alone, or the RTL (bit- and cycle-exact or it fails).
SIMS = ("golden", "icarus", "verilator")
#: Synthesis targets a sweep can ask for (:func:`panacea_hdl.flows.compare.design_area`).
SYNTH_TARGETS = ("generic", "ecp5")
#: Baseline variants a point is compared with (same fields, other variant).
BASELINE_VARIANTS = ("sibia", "dense")
#: Default seconds allowed for one point (all its items) before it is killed.
DEFAULT_TIMEOUT = 3600.0
#: Bump when what an item holds changes: older cache files are then run again.
CACHE_VERSION = 1


def _digest(obj, n=12) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:n]


def point_name(fields: dict) -> str:
    """The config name of a point: ``sw_<digest of its fields>`` (the Verilog top module is
    ``panacea_sw_<digest>``, so two points never share a module or a build directory)."""
    return f"sw_{_digest(fields, 10)}"


# ---- the spec -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A parsed, checked sweep spec (:func:`parse_spec`).

    Attributes
    ----------
    name : str
        Label of the sweep (default: the spec file's stem).
    points : list of dict
        Per point the full config fields (no name), in sweep order, without repeats.
    workloads : list of dict
        Per workload entry: ``name`` (builtin name or absolute ``.npz`` path), ``sim``,
        ``mode`` (None = the variant's most-skipping mode) and ``key`` (cache key).
    synth : tuple of str
        Synthesis targets, in order.
    area : str or None
        Which target's figure is the table's ``area`` column (None without synthesis).
    timeout : float
        Seconds allowed per point.
    source : dict
        The spec as read (for the report).
    """

    name: str
    points: list
    workloads: list
    synth: tuple
    area: str | None
    timeout: float
    source: dict


def load_spec(path) -> SweepSpec:
    """Read a sweep spec from a ``.json`` or ``.yaml``/``.yml`` file and check it.

    Raises
    ------
    ValueError
        One line naming the problem: missing or unreadable file, bad syntax, or anything
        :func:`parse_spec` refuses.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"sweep spec {path} does not exist")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml        # PyYAML: a dependency of dask distributed
        except ImportError:
            raise ValueError(f"sweep spec {path}: reading YAML needs PyYAML (pip install pyyaml); "
                             f"or write the spec as JSON") from None
        try:
            d = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"sweep spec {path}: not valid YAML ({' '.join(str(e).split())})") \
                from None
    elif path.suffix.lower() == ".json":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"sweep spec {path}: not valid JSON ({e})") from None
    else:
        raise ValueError(f"sweep spec {path}: expected a .json, .yaml or .yml file")
    return parse_spec(d, base_dir=path.parent, default_name=path.stem)


def _grid_values(key, values):
    if not isinstance(values, list) or not values:
        raise ValueError(f"sweep spec: grid.{key} must be a non-empty list of values, "
                         f"got {values!r}")
    return values


def _check_fields(d, where):
    if not isinstance(d, dict):
        raise ValueError(f"sweep spec: {where} must be a mapping of config fields, got {d!r}")
    unknown = sorted(set(d) - set(CONFIG_FIELDS))
    if "name" in unknown:
        raise ValueError(f"sweep spec: {where} sets 'name'; the sweep names every point "
                         f"itself (sw_<digest>)")
    if unknown:
        raise ValueError(f"sweep spec: unknown parameter(s) {unknown} in {where}: not fields of "
                         f"PanaceaConfig (sweepable: {', '.join(CONFIG_FIELDS)})")
    return d


def _norm(v):
    """Field values as JSON gives them (tuples as lists) so that equal points hash equally."""
    return json.loads(json.dumps(v))


def parse_spec(d, *, base_dir=".", default_name="sweep") -> SweepSpec:
    """Check a spec given as a dict and expand it into points and workload entries.

    Parameters
    ----------
    d : dict
        The spec (see ``docs/sweep.md``): ``base`` (preset name or mapping of fields, default
        ``"default"``), ``grid`` (field -> list of values; the cartesian product), ``points``
        (list of mappings of fields, added after the grid), ``sample`` (``{"n": N, "seed": S}``:
        N points drawn from the grid without replacement), ``add_baselines`` (add the
        ``sibia`` and ``dense`` siblings of every ``panacea`` point), ``workloads`` (list of
        names / ``.npz`` paths or mappings ``{name, sim, mode}``), ``sim`` (default where
        workloads run), ``synth`` (list of targets), ``area`` (target of the ``area`` column),
        ``timeout`` (seconds per point).
    base_dir : path-like
        Relative ``.npz`` paths are relative to it (the spec file's folder).
    default_name : str
        Sweep name when the spec has none.

    Raises
    ------
    ValueError
        One line per problem, before any work. A point whose *values* are invalid (e.g.
        ``group_size: 0``) is not a spec error: it becomes a failed row of the table.
    """
    from panacea_hdl.flows.compare import BEST_MODE, BUILTIN_WORKLOADS

    if not isinstance(d, dict):
        raise ValueError("sweep spec: expected a mapping at the top level")
    unknown = sorted(set(d) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(f"sweep spec: unknown key(s) {unknown}; known: {', '.join(SPEC_KEYS)}")
    name = d.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ValueError(f"sweep spec: name must be a non-empty string, got {name!r}")

    base = d.get("base", "default")
    if isinstance(base, str):
        base_fields = preset(base).to_dict()          # unknown preset: ConfigError (ValueError)
        base_fields.pop("name")
    else:
        base_fields = dict(PanaceaConfig().to_dict(), **_check_fields(base, "base"))
        base_fields.pop("name")
    base_fields = _norm(base_fields)

    grid = d.get("grid", {})
    _check_fields(grid, "grid")
    grid = {k: _grid_values(k, v) for k, v in grid.items()}
    explicit = d.get("points", [])
    if not isinstance(explicit, list):
        raise ValueError(f"sweep spec: points must be a list of mappings, got {explicit!r}")
    for i, p in enumerate(explicit):
        _check_fields(p, f"points[{i}]")

    keys = list(grid)
    combos = [dict(zip(keys, vals)) for vals in itertools.product(*(grid[k] for k in keys))]
    sample = d.get("sample")
    if sample is not None:
        if not isinstance(sample, dict) or set(sample) - {"n", "seed"} or "n" not in sample:
            raise ValueError(f"sweep spec: sample must be {{n: N, seed: S}}, got {sample!r}")
        n, seed = sample["n"], sample.get("seed", 0)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"sweep spec: sample.n must be a positive int, got {n!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"sweep spec: sample.seed must be an int, got {seed!r}")
        if n < len(combos):
            idx = sorted(random.Random(seed).sample(range(len(combos)), n))
            combos = [combos[i] for i in idx]
    combos += list(explicit)
    add_baselines = d.get("add_baselines", False)
    if not isinstance(add_baselines, bool):
        raise ValueError(f"sweep spec: add_baselines must be true or false, got {add_baselines!r}")

    points, seen = [], set()

    def add(fields):
        key = json.dumps(fields, sort_keys=True)
        if key not in seen:
            seen.add(key)
            points.append(fields)

    for c in combos:
        fields = _norm(dict(base_fields, **c))
        add(fields)
        if add_baselines and fields.get("variant") == "panacea":
            for v in BASELINE_VARIANTS:
                add(dict(fields, variant=v))
    if not points:
        raise ValueError("sweep spec: the grid and points give no point to run")

    sim = d.get("sim", "golden")
    if sim not in SIMS:
        raise ValueError(f"sweep spec: sim must be one of {', '.join(SIMS)}, got {sim!r}")
    wl = d.get("workloads", ["skewed"])
    if not isinstance(wl, list) or not wl:
        raise ValueError(f"sweep spec: workloads must be a non-empty list, got {wl!r}")
    workloads, names = [], set()
    for i, w in enumerate(wl):
        entry = {"name": w} if isinstance(w, str) else w
        if not isinstance(entry, dict) or set(entry) - {"name", "sim", "mode"} \
                or not isinstance(entry.get("name"), str):
            raise ValueError(f"sweep spec: workloads[{i}] must be a name, a path or "
                             f"{{name, sim, mode}}, got {w!r}")
        wname, wsim, mode = entry["name"], entry.get("sim", sim), entry.get("mode")
        if wsim not in SIMS:
            raise ValueError(f"sweep spec: workloads[{i}].sim must be one of {', '.join(SIMS)}, "
                             f"got {wsim!r}")
        if mode is not None and mode not in BEST_MODE:
            raise ValueError(f"sweep spec: workloads[{i}].mode must be one of "
                             f"{', '.join(BEST_MODE)} (default: the variant's most-skipping "
                             f"mode), got {mode!r}")
        data_digest = None
        if wname not in BUILTIN_WORKLOADS:
            p = Path(wname)
            if p.suffix != ".npz":
                raise ValueError(f"sweep spec: unknown workload {wname!r}: choose from "
                                 f"{', '.join(BUILTIN_WORKLOADS)} or give an .npz file")
            p = (Path(base_dir) / p).resolve() if not p.is_absolute() else p
            if not p.is_file():
                raise ValueError(f"sweep spec: workload file {p} does not exist")
            wname, data_digest = str(p), hashlib.sha256(p.read_bytes()).hexdigest()
        label = Path(wname).stem if data_digest else wname
        tag = (label, wsim, mode)
        if tag in names:
            raise ValueError(f"sweep spec: workload {label!r} (sim {wsim}, mode "
                             f"{mode or 'best'}) is given twice")
        names.add(tag)
        ident = {"name": wname, "sim": wsim, "mode": mode, "data": data_digest}
        slug = "".join(c if c.isalnum() else "_" for c in label)[:24]
        workloads.append({"name": wname, "label": label, "sim": wsim, "mode": mode,
                          "key": f"wl-{slug}-{wsim}-{_digest(ident, 8)}"})

    synth = d.get("synth", ["generic"])
    if isinstance(synth, str):
        synth = [synth]
    if not isinstance(synth, list) or any(t not in SYNTH_TARGETS for t in synth) \
            or len(set(synth)) != len(synth):
        raise ValueError(f"sweep spec: synth must be a list of distinct targets from "
                         f"{', '.join(SYNTH_TARGETS)} (or []), got {synth!r}")
    area = d.get("area", ("ecp5" if "ecp5" in synth else synth[0]) if synth else None)
    if area is not None and area not in synth:
        raise ValueError(f"sweep spec: area {area!r} must be one of the synth targets {synth}")
    timeout = d.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"sweep spec: timeout must be a positive number of seconds, "
                         f"got {timeout!r}")
    return SweepSpec(name=name, points=points, workloads=workloads, synth=tuple(synth),
                     area=area, timeout=float(timeout), source=d)


# ---- one point (runs in a child process of a Dask worker) ------------------------------------
def _reason(stage, e) -> str:
    msg = " ".join(str(e).split())
    return f"{stage}: {type(e).__name__}: {msg}"[:500]


def _workload_metrics(cfg, w, mode, sim) -> dict:
    from panacea_hdl.flows.jobs import run_gemm_job

    t0 = time.perf_counter()
    rep = run_gemm_job(cfg, w["A"], w["W"], w["z"], mode=mode, L=w["L"], r=w["r"], sim=sim)
    pred = rep.prediction
    return {
        "workload": w["name"], "source": w["source"], "sim": sim, "mode": mode,
        "M": int(w["A"].shape[0]), "K": int(w["A"].shape[1]), "N": int(w["W"].shape[1]),
        "z": int(w["z"]), "L": int(w["L"]), "r": int(w["r"]),
        "host_tiles": len(rep.tiles),
        "cycles": int(rep.counters["cycles"]),
        "energy_pj": float(pred.energy_pj["total"]),
        "ext_bytes": int(pred.memory["total_bytes_rle"]),
        "frac_vectors_skipped": (0.0 if mode == "dense"
                                 else float(rep.slice_stats["frac_vectors_skipped"])),
        "rtl_checked": rep.rtl is not None,
        "sim_seconds": round(time.perf_counter() - t0, 2),
    }


def _execute_point(payload: dict, out: Path) -> None:
    """Run the items of one point, writing ``<out>/<key>.json`` after each (the parent reads
    them, also after a timeout)."""
    from panacea_hdl.flows.compare import BEST_MODE, _area_summary, design_area, make_workloads
    from panacea_hdl.rtl.generate import generate

    todo = payload["todo"]

    def put(item, result):
        atomic_write_text(out / f"{item['key']}.json", to_json(dict(result, key=item["key"])))

    def fail_all(stage, e):
        for item in todo:
            put(item, {"ok": False, "error": _reason(stage, e)})

    try:
        cfg = PanaceaConfig.from_dict(dict(payload["fields"], name=payload["name"]))
    except (ValueError, TypeError) as e:         # ConfigError is a ValueError
        return fail_all("config", e)
    t0 = time.perf_counter()
    try:
        generate(cfg)
    except Exception as e:  # noqa: BLE001 - any generator failure is this point's failure
        return fail_all("generate", e)
    gen_s = round(time.perf_counter() - t0, 2)
    for item in todo:
        t0 = time.perf_counter()
        try:
            if item["kind"] == "synth":
                s, cached = design_area(cfg, item["target"])
                res = {"ok": True, "area": _area_summary(s, cached)}
            else:
                mode = item["mode"] or BEST_MODE[cfg.variant]
                cfg.check_mode(mode)
                rows = [_workload_metrics(cfg, w, mode, item["sim"])
                        for w in make_workloads(cfg, [item["name"]])]
                res = {"ok": True, "rows": rows}
        except Exception as e:  # noqa: BLE001 - reported as this item's failure row
            stage = f"synth {item['target']}" if item["kind"] == "synth" else \
                f"{item['label']} on {item['sim']}"
            res = {"ok": False, "error": _reason(stage, e)}
        res.update(seconds=round(time.perf_counter() - t0, 2), generate_seconds=gen_s,
                   pid=os.getpid())
        put(item, res)


def _watch_parent():
    """End this process group if the worker that started it goes away."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def _point_main(argv) -> int:
    """``python -m panacea_hdl.flows.sweep DIR``: run the point described by ``DIR/payload.json``."""
    work = Path(argv[0])
    payload = json.loads((work / "payload.json").read_text())
    _watch_parent()
    os.environ[BUILD_DIR_ENV] = payload["build_root"]
    out = work / "items"
    out.mkdir(exist_ok=True)
    _execute_point(payload, out)
    return 0


def _tail(path: Path, n=3) -> str:
    try:
        lines = [s for s in path.read_text(errors="replace").splitlines() if s.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])[-400:]


def _point_task(payload: dict) -> dict:
    """The Dask task of one point: run it in a child process (killed after the timeout).

    Returns ``{"items": {key: result}, "seconds", "cpu_seconds", "host", "returncode"}``
    (``cpu_seconds``: CPU time of the point process and the tools it ran); every item of
    ``payload["todo"]`` has a result (missing ones: the timeout or the child's exit as reason).
    """
    import resource
    import socket

    import panacea_hdl

    def cpu():      # CPU time of this worker's finished children (the point and its tools)
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    t0, c0 = time.perf_counter(), cpu()
    env = dict(os.environ)
    env[BUILD_DIR_ENV] = payload["build_root"]
    src = str(Path(panacea_hdl.__file__).resolve().parent.parent)    # the same code as here
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    Path(payload["build_root"]).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="panacea-sweep-") as tmp:
        work = Path(tmp)
        (work / "payload.json").write_text(json.dumps(payload))
        log = work / "point.log"
        timed_out = False
        with open(log, "wb") as logf:
            proc = subprocess.Popen([sys.executable, "-m", "panacea_hdl.flows.sweep", str(work)],
                                    env=env, cwd=payload["build_root"], stdin=subprocess.DEVNULL,
                                    stdout=logf, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                proc.wait(timeout=payload["timeout"])
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                if proc.poll() is None or timed_out:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)   # the point and its simulator
                    except ProcessLookupError:
                        pass
                    proc.wait()
        items = {}
        for item in payload["todo"]:
            f = work / "items" / f"{item['key']}.json"
            if f.is_file():
                items[item["key"]] = json.loads(f.read_text())
            elif timed_out:
                items[item["key"]] = {"ok": False, "error": f"timeout: the point took longer "
                                                            f"than {payload['timeout']:g} s"}
            else:
                items[item["key"]] = {"ok": False, "error": f"point process exited with status "
                                                            f"{proc.returncode}: {_tail(log)}"}
    return {"items": items, "seconds": round(time.perf_counter() - t0, 2),
            "cpu_seconds": round(cpu() - c0, 2), "host": socket.gethostname(),
            "returncode": proc.returncode}


# ---- the engine ---------------------------------------------------------------------------
def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class DaskEngine:
    """A Dask client: on an embedded LocalCluster (started and closed here) or an existing
    scheduler."""

    def __init__(self, scheduler=None, workers=None):
        self.scheduler, self.workers = scheduler, workers
        self.cluster = self.client = None

    def __enter__(self):
        from distributed import Client, LocalCluster

        if self.scheduler:
            target = {"address": self.scheduler}
            if not str(self.scheduler).startswith(("tcp://", "tls://", "ucx://", "inproc://")) \
                    and Path(self.scheduler).is_file():   # dask scheduler --scheduler-file
                target = {"scheduler_file": str(self.scheduler)}
            try:
                self.client = Client(**target, timeout="20s")
            except (OSError, TimeoutError) as e:
                raise ValueError(f"cannot connect to the Dask scheduler {self.scheduler}: "
                                 f"{' '.join(str(e).split())}") from None
        else:
            self.cluster = LocalCluster(n_workers=self.workers or _default_workers(),
                                        threads_per_worker=1, processes=True,
                                        silence_logs=logging.ERROR, dashboard_address=None)
            self.client = Client(self.cluster)
        return self.client

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False


# ---- cache ----------------------------------------------------------------------------------
def _items_of(spec: SweepSpec):
    items = [{"kind": "synth", "target": t, "key": f"synth-{t}"} for t in spec.synth]
    items += [dict(w, kind="workload") for w in spec.workloads]
    return items


def _read_cache(path: Path, key: str):
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(d, dict) or d.get("key") != key or d.get("cache_version") != CACHE_VERSION:
        return None
    return d


# ---- the sweep ------------------------------------------------------------------------------
def run_sweep(spec: SweepSpec, *, out_dir, scheduler=None, workers=None, progress=True,
              retry_failed=False, build_dir=None) -> dict:
    """Run a sweep; write ``sweep.csv``, ``sweep.json`` and the Pareto plots to ``out_dir``.

    Parameters
    ----------
    spec : SweepSpec
        From :func:`load_spec` / :func:`parse_spec`.
    out_dir : path-like
        Output directory; its ``points/`` folder is the per-point cache.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); default: an embedded
        ``LocalCluster`` of ``workers`` single-threaded worker processes.
    workers : int, optional
        Workers of the embedded cluster (default: the cores this process may use).
    progress : bool
        A tqdm bar over points on stderr.
    retry_failed : bool
        Run cached failed items again (default: a cached failure is reported as it is).
    build_dir : path-like, optional
        Build root of the generated designs (default: :func:`panacea_hdl.paths.build_root`);
        every worker must see it at the same absolute path.

    Returns
    -------
    dict
        ``name, spec, points, workloads, synth, area, rows, columns, stats, files``; ``rows``
        is the table (one per point x workload), ``stats`` counts points and items run and
        cached and gives the wall time.
    """
    from tqdm import tqdm

    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = str(Path(build_dir).resolve() if build_dir is not None else build_root())
    items = _items_of(spec)
    names = [point_name(f) for f in spec.points]

    results = {}                    # point name -> {key: item result}
    todo = []                       # (name, fields, items to run)
    cached_items = 0
    for name, fields in zip(names, spec.points):
        pdir = out / "points" / name
        have = {}
        for it in items:
            d = _read_cache(pdir / f"{it['key']}.json", it["key"])
            if d is not None and (d["ok"] or not retry_failed):
                have[it["key"]] = d
        cached_items += len(have)
        results[name] = have
        missing = [it for it in items if it["key"] not in have]
        if missing:
            todo.append((name, fields, missing))

    stats = {"points": len(names), "points_submitted": len(todo),
             "items_cached": cached_items, "items_run": sum(len(m) for _, _, m in todo),
             "engine": None, "workers": None, "point_seconds": {}, "point_cpu_seconds": {}}
    bar = tqdm(total=len(names), initial=len(names) - len(todo), desc=f"sweep {spec.name}",
               unit="point", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    try:
        if todo:
            _run_tasks(spec, todo, out, root, results, stats, bar, scheduler, workers)
    finally:
        bar.close()
    stats["wall_seconds"] = round(time.perf_counter() - t_start, 2)

    rows = _rows(spec, names, results)
    d = {"name": spec.name, "spec": spec.source, "out_dir": str(out), "build_root": root,
         "points": [dict(f, name=n) for n, f in zip(names, spec.points)],
         "workloads": spec.workloads, "synth": list(spec.synth), "area": spec.area,
         "baseline_rule": BASELINE_RULE, "columns": _columns(spec, rows), "rows": rows,
         "stats": stats}
    d["files"] = [str(p) for p in _write_outputs(d, out)]
    return d


def _run_tasks(spec, todo, out, root, results, stats, bar, scheduler, workers):
    from distributed import as_completed

    with DaskEngine(scheduler, workers) as client:
        info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) \
            else client.scheduler_info()
        stats["engine"] = "scheduler " + scheduler if scheduler else "LocalCluster"
        stats["workers"] = len(info.get("workers", {}))
        futures = {}
        for name, fields, missing in todo:
            payload = {"name": name, "fields": fields, "todo": missing, "build_root": root,
                       "timeout": spec.timeout}
            fut = client.submit(_point_task, payload, key=f"sweep-{name}-{_digest(missing, 6)}",
                                pure=False, priority=_size(fields))
            futures[fut] = (name, fields, missing)
        for fut in as_completed(futures):
            name, fields, missing = futures[fut]
            try:
                res = fut.result()
                got = res["items"]
                stats["point_seconds"][name] = res["seconds"]
                stats["point_cpu_seconds"][name] = res["cpu_seconds"]
            except Exception as e:  # noqa: BLE001 - a lost worker etc.: this point fails
                got = {it["key"]: {"ok": False, "error": _reason("dask", e)} for it in missing}
            pdir = out / "points" / name
            pdir.mkdir(parents=True, exist_ok=True)
            if not (pdir / "point.json").exists():
                atomic_write_text(pdir / "point.json", to_json(dict(fields, name=name)))
            for it in missing:
                r = dict(got[it["key"]], key=it["key"], cache_version=CACHE_VERSION)
                atomic_write_text(pdir / f"{it['key']}.json", to_json(r))
                results[name][it["key"]] = r
            bar.update(1)


def _size(fields) -> int:
    """A rough cost of a point for ordering (larger first, so that the longest tasks do not
    come last and leave workers idle): its multiplier count G x pea_cols x num_peas, 0 when
    the fields are not ints."""
    n = 1
    for k in ("group_size", "pea_cols", "num_peas"):
        v = fields.get(k)
        n *= v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0
    return n


def _takes_n_workers(client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


# ---- the table ------------------------------------------------------------------------------
#: How a point's baselines are found (also written into sweep.json).
BASELINE_RULE = ("the baseline of a point for variant V (sibia, dense) is the point of the same "
                 "sweep whose config fields all equal this point's except variant = V, on the "
                 "same workload; a ratio is empty when that point is not in the sweep or failed")

#: Columns of the table after the config fields (CSV order).
TABLE_COLUMNS = [
    "workload", "sim", "mode", "M", "K", "N", "host_tiles", "cycles", "time_us", "energy_pj",
    "ext_bytes", "frac_vectors_skipped", "rtl_checked",
    "area", "area_unit", "fmax_mhz",
    "generic_cells", "generic_flip_flops", "generic_transistors",
    "generic_transistors_with_memory",
    "ecp5_lut4_equiv", "ecp5_ff", "ecp5_bram", "ecp5_fmax_mhz", "ecp5_fits",
    *[f"{m}_vs_{b}" for b in BASELINE_VARIANTS
      for m in ("speedup", "time_speedup", "energy", "ext_bytes", "area")],
    "pareto_area_time", "pareto_energy_time",
    "sim_seconds", "synth_seconds",
]


def _columns(spec, rows):
    return ["point", "status", "error", *CONFIG_FIELDS, *TABLE_COLUMNS]


def _area_cols(spec, synth: dict) -> dict:
    c = dict.fromkeys(["area", "area_unit", "fmax_mhz", "generic_cells", "generic_flip_flops",
                       "generic_transistors", "generic_transistors_with_memory",
                       "ecp5_lut4_equiv", "ecp5_ff", "ecp5_bram", "ecp5_fmax_mhz", "ecp5_fits",
                       "synth_seconds"])
    secs = 0.0
    g = synth.get("generic")
    if g and g["ok"]:
        a = g["area"]
        c.update(generic_cells=a["cells"], generic_flip_flops=a["flip_flops"],
                 generic_transistors=a["transistors"],
                 generic_transistors_with_memory=a["transistors_with_memory"])
    e = synth.get("ecp5")
    if e and e["ok"]:
        a = e["area"]
        c.update(ecp5_lut4_equiv=a["LUT4_equiv"], ecp5_ff=a["FF"], ecp5_bram=a["BRAM"],
                 ecp5_fmax_mhz=a["fmax_mhz"], ecp5_fits=a["fits"], fmax_mhz=a["fmax_mhz"])
    for s in synth.values():
        secs += s.get("seconds") or 0.0
    c["synth_seconds"] = round(secs, 2) if synth else None
    if spec.area == "generic":
        c.update(area=c["generic_transistors"], area_unit="transistors")
    elif spec.area == "ecp5":
        c.update(area=c["ecp5_lut4_equiv"], area_unit="LUT4_equiv")
    return c


def _rows(spec: SweepSpec, names, results) -> list:
    rows = []
    for name, fields in zip(names, spec.points):
        res = results[name]
        synth = {t: res[f"synth-{t}"] for t in spec.synth if f"synth-{t}" in res}
        synth_errors = [s["error"] for s in synth.values() if not s["ok"]]
        area = _area_cols(spec, synth)
        base = {"point": name, **{k: fields.get(k) for k in CONFIG_FIELDS}}
        for w in spec.workloads:
            item = res.get(w["key"])
            if item is None:          # only if the sweep was interrupted
                item = {"ok": False, "error": "not run (sweep interrupted)"}
            if item["ok"]:
                wrows = item["rows"]
            else:
                wrows = [{"workload": w["label"], "sim": w["sim"], "mode": w["mode"]}]
            for wr in wrows:
                errors = synth_errors + ([] if item["ok"] else [item["error"]])
                row = dict.fromkeys(["point", "status", "error", *CONFIG_FIELDS, *TABLE_COLUMNS])
                row.update(base)
                row.update(area)
                row.update(wr)
                row.pop("source", None)
                for k in ("z", "L", "r"):
                    row.pop(k, None)
                row["status"] = "ok" if not errors else "failed"
                row["error"] = "; ".join(errors) or None
                if row.get("cycles") is not None and row.get("fmax_mhz"):
                    row["time_us"] = row["cycles"] / row["fmax_mhz"]
                rows.append(row)
    _add_ratios(rows)
    _add_pareto(rows)
    return rows


def _shape_key(row):
    return json.dumps({k: row[k] for k in CONFIG_FIELDS if k != "variant"}, sort_keys=True)


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def _add_ratios(rows):
    """Ratios of every row to its baselines (:data:`BASELINE_RULE`)."""
    index = {}
    for r in rows:
        if r["cycles"] is not None:
            index[(_shape_key(r), r["variant"], r["workload"])] = r
    for r in rows:
        for b in BASELINE_VARIANTS:
            base = index.get((_shape_key(r), b, r["workload"]))
            ok = base is not None and r["cycles"] is not None
            r[f"speedup_vs_{b}"] = _ratio(base["cycles"], r["cycles"]) if ok else None
            r[f"time_speedup_vs_{b}"] = _ratio(base["time_us"], r["time_us"]) if ok else None
            r[f"energy_vs_{b}"] = _ratio(r["energy_pj"], base["energy_pj"]) if ok else None
            r[f"ext_bytes_vs_{b}"] = _ratio(r["ext_bytes"], base["ext_bytes"]) if ok else None
            r[f"area_vs_{b}"] = _ratio(r["area"], base["area"]) if base is not None else None


def pareto_front(points) -> list:
    """Indices of the points ``(x, y)`` no other point dominates (both minimised).

    A point is dominated when another is <= in both coordinates and < in at least one.
    """
    front = []
    for i, (x, y) in enumerate(points):
        if not any((x2 <= x and y2 <= y) and (x2 < x or y2 < y)
                   for j, (x2, y2) in enumerate(points) if j != i):
            front.append(i)
    return front


def _time_axis(rows):
    """``time_us`` when every row of the group has it (ECP5 Fmax), else ``cycles``."""
    return "time_us" if rows and all(r["time_us"] is not None for r in rows) else "cycles"


def _add_pareto(rows):
    by_wl = {}
    for r in rows:
        r["pareto_area_time"] = r["pareto_energy_time"] = None
        if r["status"] == "ok" and r["cycles"] is not None:
            by_wl.setdefault(r["workload"], []).append(r)
    for group in by_wl.values():
        t = _time_axis(group)
        for metric, col in (("area", "pareto_area_time"), ("energy_pj", "pareto_energy_time")):
            pts = [r for r in group if r[metric] is not None]
            front = set(pareto_front([(r[t], r[metric]) for r in pts]))
            for i, r in enumerate(pts):
                r[col] = i in front


# ---- outputs --------------------------------------------------------------------------------
def _csv_text(columns, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                cells.append("")
            elif isinstance(v, (list, tuple)):
                cells.append(" ".join(map(str, v)))
            elif isinstance(v, float):
                cells.append(f"{v:.6g}")
            else:
                cells.append(v)
        w.writerow(cells)
    return buf.getvalue()


def _write_outputs(d, out: Path) -> list:
    paths = [atomic_write_text(out / "sweep.csv", _csv_text(d["columns"], d["rows"]))]
    paths += plot_pareto(d, out)
    d_files = [str(p) for p in paths] + [str(out / "sweep.json")]
    paths.append(atomic_write_text(out / "sweep.json", to_json(dict(d, files=d_files))))
    return paths


_COLORS = {"panacea": "#1f77b4", "sibia": "#ff7f0e", "dense": "#7f7f7f"}


def plot_pareto(d, out_dir) -> list:
    """Pareto plots of the ok rows, one panel per workload, as PNG and SVG; returns the paths.

    ``pareto_area_time``: area (the spec's ``area`` target) vs time (µs with an ECP5 Fmax,
    else cycles); ``pareto_energy_time``: energy per GEMM vs time. Points are coloured by
    variant; the Pareto front (both minimised) is the line.
    """
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    out = Path(out_dir)
    ok = [r for r in d["rows"] if r["status"] == "ok" and r["cycles"] is not None]
    wls = list(dict.fromkeys(r["workload"] for r in ok))
    unit = next((r["area_unit"] for r in ok if r["area_unit"]), None)
    paths = []
    for stem, metric, ylabel in (("pareto_area_time", "area", f"area ({unit})"),
                                 ("pareto_energy_time", "energy_pj", "energy per GEMM (pJ)")):
        n = max(1, len(wls))
        cols = min(3, n)
        nrows = math.ceil(n / cols)
        fig = Figure(figsize=(4.2 * cols, 3.6 * nrows), layout="constrained")
        for i, wl in enumerate(wls or [None]):
            ax = fig.add_subplot(nrows, cols, i + 1)
            group = [r for r in ok if r["workload"] == wl and r[metric] is not None]
            if not group:
                ax.text(0.5, 0.5, "no data" if metric == "energy_pj" or unit else
                        "no area (no synthesis in the spec)", ha="center", va="center",
                        transform=ax.transAxes)
                ax.set_title(str(wl), fontsize=9)
                continue
            t = _time_axis(group)
            for v in dict.fromkeys(r["variant"] for r in group):
                g = [r for r in group if r["variant"] == v]
                ax.scatter([r[t] for r in g], [r[metric] for r in g], s=22, label=v,
                           color=_COLORS.get(v), alpha=0.8)
            front = sorted((r[t], r[metric]) for j, r in enumerate(group)
                           if j in set(pareto_front([(q[t], q[metric]) for q in group])))
            ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="black",
                    lw=1, label="Pareto front")
            ax.set_xlabel("time (µs)" if t == "time_us" else "cycles")
            ax.set_ylabel(ylabel)
            ax.set_title(str(wl), fontsize=9)
            ax.legend(fontsize=7)
        fig.suptitle(f"sweep {d['name']}: {ylabel.split(' (')[0]} vs time (lower-left is better)",
                     fontsize=10)
        for ext in ("png", "svg"):
            p = out / f"{stem}.{ext}"
            fig.savefig(p, dpi=110, metadata={"Date": None} if ext == "svg" else None)
            paths.append(p)
    return paths


def format_summary(d) -> str:
    """A short text summary of a sweep: counts, failures and the fastest ok row per workload."""
    s = d["stats"]
    rows = d["rows"]
    failed = [r for r in rows if r["status"] != "ok"]
    lines = [f"sweep {d['name']}: {s['points']} point(s) x {len(d['workloads'])} workload "
             f"entr{'y' if len(d['workloads']) == 1 else 'ies'} -> {len(rows)} row(s), "
             f"{len(failed)} failed; {s['points_submitted']} point(s) run "
             f"({s['items_run']} item(s)), {s['items_cached']} item(s) from the cache; "
             f"{s['wall_seconds']:.1f} s"
             + (f" on {s['engine']} with {s['workers']} worker(s)" if s["engine"] else "")]
    for r in failed:
        lines.append(f"  failed {r['point']} ({r['variant']}, {r['workload']}): {r['error']}")
    by_wl = {}
    for r in rows:
        if r["status"] == "ok":
            by_wl.setdefault(r["workload"], []).append(r)
    for wl, g in by_wl.items():
        t = _time_axis(g)
        best = min(g, key=lambda r: r[t])
        lines.append(f"  {wl}: fastest {best['point']} ({best['variant']}, G={best['group_size']}, "
                     f"pea_cols={best['pea_cols']}, num_peas={best['num_peas']}) "
                     f"{best[t]:.6g} {'us' if t == 'time_us' else 'cycles'}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(_point_main(sys.argv[1:]))
