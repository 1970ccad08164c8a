"""scripts/area_breakdown.py: the table it prints (no synthesis here)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "area_breakdown.py"


def _load():
    spec = importlib.util.spec_from_file_location("area_breakdown", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_table_rows_totals_and_ratios_to_the_last_design():
    ab = _load()
    data = {
        "a": {"ecp5": {"blocks": {"swo": {"LUT4_equiv": 300}, "csr": {"LUT4_equiv": 100}},
                       "total": {"LUT4_equiv": 400}}},
        "d": {"ecp5": {"blocks": {"int8_pea": {"LUT4_equiv": 150}, "csr": {"LUT4_equiv": 50}},
                       "total": {"LUT4_equiv": 200}}},
    }
    text = ab.table(["a", "d"], data, "LUT4_equiv", "ecp5")
    lines = text.splitlines()
    assert lines[0] == "| block | a | d | a/d |"
    rows = {ln.split(" | ")[0].lstrip("| "): ln for ln in lines[2:]}
    assert "| 300 | - | - |" in rows[ab.BLOCKS["swo"]]
    assert "| - | 150 | - |" in rows[ab.BLOCKS["int8_pea"]]
    assert rows[ab.BLOCKS["csr"]].endswith("| 100 | 50 | 2.00 |")
    assert rows["**total**"].endswith("| **400** | **200** | **2.00** |")
    # blocks in the order of BLOCKS, total last
    order = [b for b in ab.BLOCKS if ab.BLOCKS[b] in rows]
    assert [ln.split(" | ")[0].lstrip("| ") for ln in lines[2:-1]] == [ab.BLOCKS[b] for b in order]
