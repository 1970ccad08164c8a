"""Per-event energy table (picojoules) used by the cycle model's energy estimate.

Source: M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
45 nm figures: 8-bit integer multiply 0.2 pJ, 32-bit integer add 0.1 pJ, 64-bit read of an
8 KB SRAM 10 pJ, DRAM 1.3-2.6 nJ per 64-bit access. Derived here (project's choice, stated):

* ``int8_mult``: the 8-bit multiply itself, 0.2 pJ: one INT8 MAC of the ``dense`` variant
  (the INT8-array baseline, ``docs/baselines.md``).
* ``slice_mult``: a 4-bit x 4-bit slice multiply scaled from the 8-bit multiply by partial-
  product count (16 / 64): 0.05 pJ.
* ``sram_byte``: 10 pJ / 8 bytes = 1.25 pJ per byte read or written.
* ``dram_byte``: the low end, 1.3 nJ / 8 bytes = 162.5 pJ per byte.

The figures are relative estimates for comparing modes and designs, not a sign-off number.
"""

ENERGY_PJ = {
    "int8_mult": 0.2,
    "slice_mult": 0.05,
    "add32": 0.1,
    "sram_byte": 1.25,
    "dram_byte": 162.5,
}

SOURCE = "Horowitz, ISSCC 2014 (45 nm); slice multiply and per-byte figures scaled as documented"


#: On-chip groups of :func:`energy_split`, in report order (``predict``'s ``energy_pj`` keys
#: grouped: ``multiplies`` = ``int8_mults`` + ``slice_mults``; the others by their own name).
ON_CHIP_GROUPS = ("multiplies", "accumulate", "compensator", "weight_buffer", "act_buffer")


def energy_split(energy_pj: dict) -> dict:
    """Group a prediction's ``energy_pj`` (``cycle_model.predict``, or a sum of them) into
    on-chip and external energy.

    Returns a dict with :data:`ON_CHIP_GROUPS` (0 when the design has no such term), any other
    on-chip term of the prediction under its own name, ``on_chip`` (their sum), ``external``
    and ``total``; ``on_chip + external == total`` (up to float rounding). Read from the
    prediction's keys, so a term added to the cycle model later lands in ``on_chip``.
    """
    e = {k: float(v) for k, v in energy_pj.items() if k != "total"}
    if "external" not in e:
        raise ValueError(f"energy_pj has no 'external' term (keys {sorted(energy_pj)})")
    out = {"multiplies": e.pop("int8_mults", 0.0) + e.pop("slice_mults", 0.0)}
    for k in ON_CHIP_GROUPS[1:]:
        out[k] = e.pop(k, 0.0)
    external = e.pop("external")
    out.update(e)                                   # terms this function does not know yet
    out["on_chip"] = sum(out.values())
    out["external"] = external
    out["total"] = out["on_chip"] + external
    return out
