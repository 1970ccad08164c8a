"""The house by role: layers import downward only, no import circles, the product stands
without the test tree, and a GEMM on the RTL computes the golden model once per run."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("golden_model", "panacea_hdl")


def _modules():
    mods = {}
    for pkg in PRODUCT:
        for f in (REPO / pkg).rglob("*.py"):
            parts = list(f.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = f
    return mods


def _runtime_nodes(tree):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (annotations only)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def _imports(name, path):
    """Every module ``name`` imports at run time (module level and inside functions)."""
    out = set()
    is_pkg = path.name == "__init__.py"
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            if node.module:                 # `from . import x` imports x, not the package
                out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)   # `from pkg import module`
    return out


def _graph():
    mods = _modules()
    return {m: {i for i in _imports(m, p) if i in mods and i != m} for m, p in mods.items()}, mods


def test_product_never_imports_the_test_tree():
    mods = _modules()
    bad = {m: sorted(i for i in _imports(m, p) if i.split(".")[0] in ("sim_tests", "tests"))
           for m, p in mods.items()}
    assert not {m: b for m, b in bad.items() if b}


def test_layers_import_downward_only():
    graph, _ = _graph()
    # lower layers first; a module may import its own layer and the ones before it
    layers = ["golden_model", "panacea_hdl.regmap", "panacea_hdl.paths", "panacea_hdl.toolchain",
              "panacea_hdl.rtl", "panacea_hdl.sim", "panacea_hdl.flows", "panacea_hdl.cli"]

    def layer(m):
        return max(i for i, prefix in enumerate(layers) if m == prefix or m.startswith(prefix + ".")
                   or (prefix == "golden_model" and m == "golden_model"))
    upward = [(m, i) for m, deps in graph.items() if m != "panacea_hdl"
              for i in deps if i != "panacea_hdl" and layer(i) > layer(m)]
    assert not upward, upward


def test_no_import_circles():
    graph, _ = _graph()
    # ignore package __init__ edges (a package importing nothing of its own here)
    seen, stack, cycles = set(), [], []

    def visit(m):
        if m in stack:
            cycles.append(stack[stack.index(m):] + [m])
            return
        if m in seen:
            return
        seen.add(m)
        stack.append(m)
        for d in sorted(graph[m]):
            visit(d)
        stack.pop()
    for m in sorted(graph):
        visit(m)
    assert not cycles, cycles


def test_product_imports_without_the_test_tree(tmp_path):
    for pkg in PRODUCT:
        shutil.copytree(REPO / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    names = sorted(_modules())
    code = ("import importlib, sys\n"
            f"for n in {names!r}:\n"
            "    importlib.import_module(n)\n"
            "import panacea_hdl\n"
            "assert panacea_hdl.__file__.startswith(sys.argv[1]), panacea_hdl.__file__\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('sim_tests', 'tests')]\n"
            "assert not bad, bad\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(tmp_path)
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]


def test_a_gemm_on_the_rtl_computes_the_golden_model_once_per_run(monkeypatch, tmp_path):
    import golden_model.tiling as tiling
    from golden_model.config import preset
    from golden_model.workloads import random_weights, skewed_activations
    from panacea_hdl.flows.jobs import run_gemm_job
    from panacea_hdl.paths import BUILD_DIR_ENV

    monkeypatch.setenv(BUILD_DIR_ENV, str(tmp_path / "build"))
    calls = {"aqs_gemm": 0, "predict": 0}
    real_gemm, real_predict = tiling.aqs_gemm, tiling.predict

    def count_gemm(*a, **k):
        calls["aqs_gemm"] += 1
        return real_gemm(*a, **k)

    def count_predict(*a, **k):
        calls["predict"] += 1
        return real_predict(*a, **k)
    monkeypatch.setattr(tiling, "aqs_gemm", count_gemm)
    monkeypatch.setattr(tiling, "predict", count_predict)
    A = skewed_activations(5, 100, seed=2)          # tiny: k_max 64 -> 2 runs of the core
    W = random_weights(100, 3, seed=2)
    rep = run_gemm_job(preset("tiny"), A, W, 100, mode="aqs", sim="icarus")
    assert len(rep.tiles) == 2 and rep.rtl is not None
    assert calls == {"aqs_gemm": 2, "predict": 2}
    assert np.array_equal(rep.Y, (A.astype(np.int64) - 100) @ W.astype(np.int64))
