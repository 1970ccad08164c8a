"""The register map is declared once (``panacea_hdl.regmap.REGISTER_MAP``): the docs, the
CSR block and the host constants follow it."""

from pathlib import Path

from golden_model.config import PRESETS, VARIANTS
from panacea_hdl import regmap

DOC = Path(__file__).resolve().parents[1] / "docs" / "registers.md"


def test_docs_table_is_the_declared_map():
    assert regmap.markdown_table() in DOC.read_text()


def test_map_is_consistent():
    addrs = [r.addr for r in regmap.REGISTER_MAP]
    assert addrs == sorted(addrs) and len(set(addrs)) == len(addrs)
    assert all(a % 4 == 0 and a < regmap.COUNTER_BASE for a in addrs)
    assert regmap.counter_addr(len(regmap.COUNTERS) - 1) < 1 << regmap.ADDR_BITS
    for r in regmap.REGISTER_MAP:
        assert r.access in ("R", "W", "RW")
        used = 0
        for f in r.fields:
            m = f.mask << f.offset
            assert not used & m, f"{r.name}.{f.name} overlaps another field"
            assert f.offset + f.width <= 32
            used |= m


def test_info_identifies_every_preset_and_its_variant():
    seen = set()
    for name, cfg in PRESETS.items():
        info = regmap.decode_info(regmap.info_value(cfg))
        assert info == {"G": cfg.group_size, "pea_cols": cfg.pea_cols, "num_peas": cfg.num_peas,
                        "rle_run_bits": cfg.rle_run_bits, "variant": cfg.variant}
        seen.add(info["variant"])
    assert seen == set(VARIANTS)


def test_mode_codes_follow_the_enum():
    assert regmap.MODE_CODES == {"dense": 0, "sibia": 1, "aqs": 2}
    assert [regmap.Mode[m.upper()] for m in regmap.MODE_CODES] == list(regmap.Mode)
