"""One configuration object per Panacea design.

The same :class:`PanaceaConfig` parameterizes the Amaranth generator, the golden model's
cycle/memory model and the testbenches. It is written beside the Verilog as JSON
(:meth:`PanaceaConfig.to_json`) so that every consumer reads the same numbers.

This module imports nothing but the standard library and :mod:`golden_model.bits` (and
:mod:`golden_model.formats` inside :meth:`PanaceaConfig.derived`, one way only).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

__all__ = ["PanaceaConfig", "ConfigError", "PRESETS", "preset", "load_config", "VARIANTS",
           "VARIANT_MODES", "VARIANT_SPECS", "Variant", "BASELINE_BASES"]

from .bits import ACC_BITS, ACT_BITS, WEIGHT_BITS  # noqa: F401  (part of the config's API)

#: Splits L the hardware can ever be built for (A = 2**L * AH + AL).
SPLIT_RANGE = range(2, 7)
#: Default tiles per pass (``PanaceaConfig.tiles_per_pass``): double-tile processing.
TILES_PER_PASS = 2
#: Bounds of ``tiles_per_pass``: at least two tiles (one tile per pass would make the SWO and
#: the DWO the same height, with a 0-bit tile select), and at most :data:`MAX_ROWS_PER_PASS`
#: rows per pass in all.
TILES_PER_PASS_MIN = 2
#: Largest ``rows_per_pass = tiles_per_pass * group_size``: the widest pass the original
#: double-tile generator could build (2 x 16, G <= 16); it bounds the ``lo`` beat
#: (``rows_per_pass`` lanes), the SWO, the accumulators and the output bank.
MAX_ROWS_PER_PASS = 32
#: Width of the DIM_M / DIM_K / DIM_N registers (``docs/registers.md``): the largest M, K, N
#: one GEMM on the core can have. Longer GEMMs are tiled by the host
#: (:mod:`golden_model.tiling`).
DIM_BITS = 16
DIM_MAX = (1 << DIM_BITS) - 1
#: Largest reduction length K whose result is guaranteed to fit the signed 32-bit
#: accumulator / result: ``|Y| <= 255 * 128 * K`` (also for host-tiled GEMMs, whose partial
#: sums the host adds).
K_ACC_MAX = (2 ** (ACC_BITS - 1) - 1) // (255 * 128)


@dataclass(frozen=True)
class Variant:
    """What a hardware variant has: the generator, the cycle model and the streams read these
    capabilities, never the variant's name.

    Attributes
    ----------
    name : str
    modes : tuple of str
        Run-time modes (``golden_model.aqs_gemm.MODES``) it can execute, in MODE-code order.
    skip_value : bool
        It skips high-order vectors equal to a run-time value r (RVAL register, the compensator
        folds ``2**L * r``); without it the skip value is always 0.
    sliced : bool
        A bit-slice array (SWO, DWO, ``ho`` RLE stream); without it an INT8 array that reads
        whole activations on ``lo`` and has no ``ho`` stream.
    """

    name: str
    modes: tuple
    skip_value: bool
    sliced: bool


#: Hardware variants the generator builds (``docs/baselines.md``): the Panacea core, and two
#: baselines with the same host interface — a bit-slice array that skips zero slices only
#: (``sibia``) and a plain INT8 array without slicing or skipping (``dense``). A new variant
#: is one more row here.
VARIANT_SPECS = {
    "panacea": Variant("panacea", ("dense", "sibia", "aqs"), skip_value=True, sliced=True),
    "sibia": Variant("sibia", ("dense", "sibia"), skip_value=False, sliced=True),
    "dense": Variant("dense", ("dense",), skip_value=False, sliced=False),
}
VARIANTS = tuple(VARIANT_SPECS)
#: Run-time modes each variant can execute (``VARIANT_SPECS[v].modes``).
VARIANT_MODES = {name: v.modes for name, v in VARIANT_SPECS.items()}


class ConfigError(ValueError):
    """A generator or model parameter is invalid."""


def _check_int(name, value, lo, hi=None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an int, not {type(value).__name__} ({value!r})")
    if value < lo or (hi is not None and value > hi):
        bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ConfigError(f"{name} must be {bound}, got {value}")


@dataclass(frozen=True)
class PanaceaConfig:
    """Parameters of one Panacea accelerator instance.

    Parameters
    ----------
    name : str
        Design name: the Verilog top module is named after it; build directories are named
        ``<name>-<digest>`` (:attr:`digest`), so configs sharing a name never share a build.
    group_size : int
        G, the number of tokens (output rows) in one tile. A skippable activation vector is
        the G high-order slices of one tile at one reduction index k.
    pea_cols : int
        Output columns per PE array (PEA).
    num_peas : int
        Number of PEAs. They run in lockstep on the same activations, each on its own
        block of ``pea_cols`` output columns.
    splits : tuple of int
        Activation splits L the hardware supports (DBS chooses among them per layer).
    k_max : int
        Depth of the weight buffer: the largest reduction length K of one GEMM.
    rle_run_bits : int
        Width of the run-length field of an RLE word.
    variant : str
        Which hardware to build, one of :data:`VARIANTS`: ``"panacea"`` (AQS-GEMM core),
        ``"sibia"`` (bit-slice array, zero-slice skipping only, no r logic) or ``"dense"``
        (INT8 array, no slicing, no skipping). A generator option; the mode stays a run-time
        register, restricted to :attr:`modes`.
    tiles_per_pass : int
        T, the tiles of G rows in one pass (default 2, double-tile processing): the DWO's G
        rows serve T tiles in turn while the SWO and the accumulators cover all
        ``rows_per_pass = T * G`` rows. At least 2, and ``T * G <= 32``. The baselines keep the
        same ``rows_per_pass``.
    requant : bool
        Build the requantization stage (``docs/formats.md``, :mod:`golden_model.requant`):
        a GEMM may then turn its int32 results into uint8 with per-column bias, multiplier
        and shift (REQUANT register). Off by default; a config without it serializes exactly
        as before the option existed (:meth:`to_dict` leaves it out), so its digest, params
        file and Verilog are unchanged.
    act_buffer_bytes : int
        Capacity in bytes of the activation buffer (``docs/architecture.md``, "Activation
        buffer"): the ``lo`` beats and ``ho`` words of a run enter once from the streams while
        the first column block consumes them and are replayed from the buffer for every
        other column block. 0 (the default): no buffer, activations are re-sent for every
        column block; a config without it serializes exactly as before the option existed.
        Split into a ``lo`` memory of :attr:`abuf_lo_depth` beats and an ``ho`` memory of
        :attr:`abuf_ho_depth` words; it must hold at least one pass at ``K = k_max`` in the
        worst case (every vector a literal). The baselines of a preset get the same bytes.
    """

    name: str = "default"
    group_size: int = 4
    pea_cols: int = 8
    num_peas: int = 4
    splits: tuple = (3, 4, 5)
    k_max: int = 2048
    rle_run_bits: int = 4
    variant: str = "panacea"
    tiles_per_pass: int = TILES_PER_PASS
    requant: bool = False
    act_buffer_bytes: int = 0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ConfigError(f"name must be a Python/Verilog identifier, got {self.name!r}")
        _check_int("group_size", self.group_size, 1, 16)
        _check_int("pea_cols", self.pea_cols, 1, 64)
        _check_int("num_peas", self.num_peas, 1, 64)
        if isinstance(self.splits, list):
            object.__setattr__(self, "splits", tuple(self.splits))
        if not isinstance(self.splits, tuple) or not self.splits:
            raise ConfigError(f"splits must be a non-empty tuple of ints, got {self.splits!r}")
        for L in self.splits:
            _check_int("each split L", L, SPLIT_RANGE.start, SPLIT_RANGE.stop - 1)
        if tuple(sorted(set(self.splits))) != self.splits:
            raise ConfigError(f"splits must be strictly increasing without repeats, got {self.splits!r}")
        # DIM_K must hold k_max, and |Y| <= 255 * 128 * K must fit the 32-bit accumulator.
        _check_int("k_max", self.k_max, 1, min(DIM_MAX, K_ACC_MAX))
        _check_int("rle_run_bits", self.rle_run_bits, 1, 16)
        if not isinstance(self.variant, str) or self.variant not in VARIANTS:
            raise ConfigError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        _check_int("tiles_per_pass", self.tiles_per_pass, TILES_PER_PASS_MIN,
                   MAX_ROWS_PER_PASS // TILES_PER_PASS_MIN)
        if self.tiles_per_pass * self.group_size > MAX_ROWS_PER_PASS:
            raise ConfigError(
                f"tiles_per_pass * group_size (rows per pass) must be <= {MAX_ROWS_PER_PASS}, got "
                f"{self.tiles_per_pass} * {self.group_size} = "
                f"{self.tiles_per_pass * self.group_size}")
        if not isinstance(self.requant, bool):
            raise ConfigError(f"requant must be true or false, got {self.requant!r}")
        _check_int("act_buffer_bytes", self.act_buffer_bytes, 0, 1 << 26)
        if self.act_buffer_bytes and (self.abuf_lo_depth < self.k_max or
                                      self.abuf_ho_depth < self.abuf_ho_pass_max(self.k_max)):
            raise ConfigError(
                f"act_buffer_bytes={self.act_buffer_bytes} cannot hold one pass at K = k_max "
                f"({self.k_max}): {self.abuf_lo_depth} lo beats (need {self.k_max}) and "
                f"{self.abuf_ho_depth} ho words (need {self.abuf_ho_pass_max(self.k_max)})")

    # ---- derived quantities (one definition each) -------------------------------------
    @property
    def cols(self) -> int:
        """Output columns computed per pass: ``num_peas * pea_cols``."""
        return self.num_peas * self.pea_cols

    @property
    def rows_per_pass(self) -> int:
        """Output rows (tokens) per pass: ``tiles_per_pass`` tiles of ``group_size``."""
        return self.tiles_per_pass * self.group_size

    @property
    def ho_bits(self) -> int:
        """Storage width of an activation high-order slice: ``8 - min(splits)``."""
        return ACT_BITS - min(self.splits)

    @property
    def lo_bits(self) -> int:
        """Storage width of an activation low-order slice: ``max(splits)``."""
        return max(self.splits)

    @property
    def default_split(self) -> int:
        """The split L used when none is asked for: 4 if supported, else the smallest split
        (also the SPLIT register's reset value)."""
        return 4 if 4 in self.splits else self.splits[0]

    @property
    def max_run(self) -> int:
        """Largest run one RLE word can carry."""
        return (1 << self.rle_run_bits) - 1

    @property
    def caps(self) -> Variant:
        """Capabilities of this config's hardware variant (:data:`VARIANT_SPECS`)."""
        return VARIANT_SPECS[self.variant]

    @property
    def modes(self) -> tuple:
        """Run-time modes this variant can execute (:data:`VARIANT_MODES`)."""
        return self.caps.modes

    def check_mode(self, mode) -> str:
        """Return ``mode`` if this variant can run it, else raise :class:`ValueError`."""
        if mode not in self.modes:
            raise ValueError(f"mode {mode!r} cannot run on the {self.variant!r} variant "
                             f"(config {self.name!r} supports: {', '.join(self.modes)})")
        return mode

    @property
    def k_bits(self) -> int:
        """Width of a reduction index / count register (holds 0..k_max)."""
        return max(1, self.k_max.bit_length())

    # ---- activation buffer (act_buffer_bytes) ------------------------------------------
    def _abuf_beat_bytes(self):
        from . import formats
        lo = formats.beat_bytes(formats.lo_beat_bits(self))
        ho = formats.beat_bytes(formats.rle_word_bits(self)) if self.caps.sliced else 0
        return lo, ho

    @property
    def abuf_lo_depth(self) -> int:
        """``lo`` beats the activation buffer holds: ``bytes // (lo_B + T ho_B)`` (bit-slice
        variants: room for T ``ho`` words per ``lo`` beat, the worst case) or ``bytes // lo_B``
        (the INT8 array, no ``ho``); ``*_B`` = the beat's bytes (``formats.beat_bytes``)."""
        lo, ho = self._abuf_beat_bytes()
        return self.act_buffer_bytes // (lo + self.tiles_per_pass * ho)

    @property
    def abuf_ho_depth(self) -> int:
        """``ho`` words the activation buffer holds: the bytes left after the ``lo`` part."""
        lo, ho = self._abuf_beat_bytes()
        return (self.act_buffer_bytes - self.abuf_lo_depth * lo) // ho if ho else 0

    def abuf_ho_pass_max(self, K: int) -> int:
        """Most ``ho`` words one pass of reduction length K can have: every vector of its T
        tiles a literal plus T END words (0 for the INT8 array)."""
        return self.tiles_per_pass * (K + 1) if self.caps.sliced else 0

    def abuf_max_passes(self, K: int) -> int:
        """Most passes of reduction length K one run may have so that its activations fit
        the buffer whatever the data (None without a buffer)."""
        if not self.act_buffer_bytes:
            return None
        p = self.abuf_lo_depth // K
        if self.caps.sliced:
            p = min(p, self.abuf_ho_depth // self.abuf_ho_pass_max(K))
        return p

    # ---- serialization ----------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["splits"] = list(self.splits)
        if not self.requant:        # configs without the option stay as they were
            del d["requant"]
        if not self.act_buffer_bytes:
            del d["act_buffer_bytes"]
        return d

    def derived(self) -> dict:
        """Derived parameters, written to the params JSON for readers of the Verilog."""
        from . import formats  # formats needs no config module: no import circle

        return {
            "cols": self.cols,
            "rows_per_pass": self.rows_per_pass,
            "tiles_per_pass": self.tiles_per_pass,
            "ho_bits": self.ho_bits,
            "lo_bits": self.lo_bits,
            "max_run": self.max_run,
            "acc_bits": ACC_BITS,
            "w_beat_bits": formats.w_beat_bits(self),
            "lo_lane_bits": formats.lo_lane_bits(self),
            "lo_beat_bits": formats.lo_beat_bits(self),
            "modes": list(self.modes),
            "rle_word_bits": formats.rle_word_bits(self),
            "y_beat_bits": formats.y_beat_bits(self),
            **({"rq_header_beats": formats.RQ_HEADER_BEATS} if self.requant else {}),
            **({"abuf_lo_depth": self.abuf_lo_depth, "abuf_ho_depth": self.abuf_ho_depth}
               if self.act_buffer_bytes else {}),
        }

    @property
    def digest(self) -> str:
        """Short content digest of the config (the name included): build directories are
        keyed by it, so two configs of the same name never share a build."""
        import hashlib

        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def to_json(self) -> str:
        """Deterministic JSON: the config plus its derived parameters."""
        return json.dumps({"config": self.to_dict(), "derived": self.derived()},
                          indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> "PanaceaConfig":
        """A config from a bare dict of fields or a params file's ``{"config", "derived"}``.

        Raises :class:`ConfigError` for unknown keys, invalid values, or a ``derived``
        section that differs from what the config implies (derived values are outputs of the
        generator: editing them changes nothing, so an edited file is refused).
        """
        derived = None
        if "config" in d and isinstance(d["config"], dict):
            extra = sorted(set(d) - {"config", "derived"})
            if extra:
                raise ConfigError(f"unknown top-level key(s) {extra} beside 'config'")
            derived = d.get("derived")
            d = d["config"]
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown config key(s) {unknown}; known: {sorted(known)}")
        d = dict(d)
        if "splits" in d and isinstance(d["splits"], list):
            d["splits"] = tuple(d["splits"])
        cfg = cls(**d)
        if derived is not None:
            expected = json.loads(json.dumps(cfg.derived()))
            if derived != expected:
                bad = sorted(k for k in set(expected) | set(derived if isinstance(derived, dict) else {})
                             if not isinstance(derived, dict) or derived.get(k) != expected.get(k))
                raise ConfigError(f"'derived' does not match the config (field(s) {bad}); derived "
                                  f"values follow from 'config': edit 'config' or drop 'derived'")
        return cfg

    def replace(self, **changes) -> "PanaceaConfig":
        return dataclasses.replace(self, **changes)


PRESETS = {
    # Small enough that a cocotb top-level run takes seconds.
    "tiny": PanaceaConfig(name="tiny", group_size=2, pea_cols=2, num_peas=2, k_max=64,
                          rle_run_bits=3),
    # The activation buffer holds the compressed activations of a 512-token layer with K = 384
    # whatever the data: 64 passes x 384 lo beats of 5 bytes and 64 x 2 x 385 RLE words of 4
    # bytes (320 KiB: 25206 lo beats, 50412 ho words); its baselines get the same bytes.
    "default": PanaceaConfig(name="default", act_buffer_bytes=320 * 1024),
    # 16 PEAs as the paper's chip; 16 columns each.
    "paper": PanaceaConfig(name="paper", group_size=4, pea_cols=16, num_peas=16, k_max=4096,
                           rle_run_bits=5),
}
# The default scale on the largest ECP5 (LFE5U-85F, docs/synthesis.md): default's PE array and
# weight buffers with half its activation buffer (160 KiB: 32 passes of a 256-token layer at
# K = 384), so its block RAM (about 138 of the device's 208 DP16KD by geometry, 64 of them the
# weight buffers') stays well under the device; default's 320 KiB needs about 204.
PRESETS["default_fpga"] = PRESETS["default"].replace(name="default_fpga",
                                                     act_buffer_bytes=160 * 1024)
# default_fpga places on the 85F but does not route (92.6 % of its logic cells; docs/synthesis.md):
# the same with 3 of default's 4 PEAs (24 output columns per pass; G, columns per PEA, k_max,
# splits and the 160 KiB activation buffer unchanged) is the default scale that routes.
PRESETS["default_fpga_3pea"] = PRESETS["default_fpga"].replace(name="default_fpga_3pea",
                                                               num_peas=3)
# More tiles per pass (docs/architecture.md, "Tiles per pass"): the tiny design with one DWO of
# G = 2 rows serving 3 or 4 tiles; SWO, accumulators and output bank cover 6 or 8 rows.
# The same at default scale (G = 4: 12 or 16 rows per pass), for panacea compare's table over T.
for _t in (3, 4):
    for _b in ("tiny", "default"):
        PRESETS[f"{_b}_t{_t}"] = PRESETS[_b].replace(name=f"{_b}_t{_t}", tiles_per_pass=_t)
del _t, _b
# Baselines built by the same generator (docs/baselines.md): same G, pea_cols, num_peas, k_max
# and tiles_per_pass (so rows_per_pass) as their base, so the same GEMM tiles the same way.
#: Panacea presets with same-generator baselines ``<base>_sibia`` and ``<base>_dense``.
BASELINE_BASES = ("tiny", "default", "default_fpga", "tiny_t3", "tiny_t4", "default_t3",
                  "default_t4", "default_fpga_3pea")
for _base in BASELINE_BASES:
    for _variant in ("sibia", "dense"):
        PRESETS[f"{_base}_{_variant}"] = PRESETS[_base].replace(name=f"{_base}_{_variant}",
                                                                variant=_variant)
del _base, _variant
# tiny with the requantization stage built in (docs/formats.md, "Requantization")
PRESETS["tiny_rq"] = PRESETS["tiny"].replace(name="tiny_rq", requant=True)
# tiny with a 512-byte activation buffer (73 lo beats, 146 ho words: one pass at k_max = 64),
# and its baselines with the same bytes (docs/architecture.md, "Activation buffer")
PRESETS["tiny_ab"] = PRESETS["tiny"].replace(name="tiny_ab", act_buffer_bytes=512)
for _variant in ("sibia", "dense"):
    PRESETS[f"tiny_ab_{_variant}"] = PRESETS["tiny_ab"].replace(name=f"tiny_ab_{_variant}",
                                                                variant=_variant)
del _variant


def preset(name: str) -> PanaceaConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


def load_config(path) -> PanaceaConfig:
    """Read a config from a JSON file (either a bare config or a written params file)."""
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ConfigError(f"{path}: key(s) {dup} given twice")
        return dict(pairs)
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f, object_pairs_hook=no_duplicates)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory, not a config file") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return PanaceaConfig.from_dict(d)
