"""Amaranth data layouts of the Panacea RTL, built from a :class:`PanaceaConfig`.

Every layout takes its widths from :mod:`golden_model.config` and :mod:`golden_model.formats`
(the specification); each function checks that the layout's size equals the width the
golden model defines, so a change there cannot silently desynchronize the RTL.

Field order is bit order: the first field / lane 0 is at the least significant bit, exactly as
``golden_model.formats.pack_lanes`` and ``pack_rle_word`` pack them.
"""

from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, wiring

from golden_model import formats
from golden_model.config import ACC_BITS, WEIGHT_BITS, PanaceaConfig

__all__ = ["ConfigComponent", "check_config", "rle_word_layout", "ho_vector_layout", "lo_beat_layout",
           "w_beat_layout", "w_row_layout", "y_beat_layout", "k_shape"]


def check_config(config, param="config") -> PanaceaConfig:
    """Return ``config`` if it is a :class:`PanaceaConfig`, else raise :class:`TypeError`.

    Parameters
    ----------
    config : PanaceaConfig
        The object to check (it validates its own fields when constructed).
    param : str
        Name of the parameter, used in the error message.
    """
    if not isinstance(config, PanaceaConfig):
        raise TypeError(f"{param} must be a golden_model.config.PanaceaConfig, "
                        f"not {type(config).__name__} ({config!r})")
    return config


def _sized(layout, bits, what):
    if layout.size != bits:  # pragma: no cover - guards against a spec/RTL mismatch
        raise AssertionError(f"{what} layout is {layout.size} bits, golden_model.formats says {bits}")
    return layout


def ho_vector_layout(config) -> data.ArrayLayout:
    """The G high-order slices of one tile at one k: ``ArrayLayout(unsigned(ho_bits), G)``."""
    cfg = check_config(config)
    return data.ArrayLayout(unsigned(cfg.ho_bits), cfg.group_size)


def rle_word_layout(config) -> data.StructLayout:
    """One RLE word, fields in the order and widths of :func:`golden_model.formats.rle_fields`:
    ``data`` (G slices, LSB), ``run``, ``kind`` (MSB)."""
    cfg = check_config(config)
    shapes = {"data": data.ArrayLayout(unsigned(cfg.ho_bits), cfg.group_size)}
    layout = data.StructLayout({name: shapes.get(name, unsigned(bits))
                                for name, bits in formats.rle_fields(cfg)})
    return _sized(layout, formats.rle_word_bits(cfg), "RLE word")


def lo_beat_layout(config) -> data.ArrayLayout:
    """One k of the ``rows_per_pass`` rows of a pass (lane i = row i): low-order slices
    (``lo_bits``), or whole 8-bit activations in the ``dense`` variant
    (:func:`golden_model.formats.lo_lane_bits`)."""
    cfg = check_config(config)
    layout = data.ArrayLayout(unsigned(formats.lo_lane_bits(cfg)), cfg.rows_per_pass)
    return _sized(layout, formats.lo_beat_bits(cfg), "low-order beat")


def w_beat_layout(config) -> data.ArrayLayout:
    """One weight row of a column block: ``cols`` lanes of int8."""
    cfg = check_config(config)
    layout = data.ArrayLayout(signed(WEIGHT_BITS), cfg.cols)
    return _sized(layout, formats.w_beat_bits(cfg), "weight beat")


def w_row_layout(config) -> data.ArrayLayout:
    """One PEA's slice of a weight row: ``pea_cols`` lanes of int8."""
    cfg = check_config(config)
    return data.ArrayLayout(signed(WEIGHT_BITS), cfg.pea_cols)


def y_beat_layout(config) -> data.ArrayLayout:
    """One output row of a column block: ``cols`` lanes of int32."""
    cfg = check_config(config)
    layout = data.ArrayLayout(signed(ACC_BITS), cfg.cols)
    return _sized(layout, formats.y_beat_bits(cfg), "output beat")


def k_shape(config):
    """Shape of a reduction index / counter: holds 0..k_max (``unsigned(k_bits)``)."""
    cfg = check_config(config)
    shape = unsigned(cfg.k_bits)
    assert (1 << shape.width) > cfg.k_max
    return shape


class ConfigComponent(wiring.Component):
    """A :class:`~amaranth.lib.wiring.Component` built for one ``PanaceaConfig``.

    Subclasses validate the config (:func:`check_config`) into ``self._config`` before calling
    ``super().__init__(signature)``; the config is exposed read-only as :attr:`config`.
    """

    @property
    def config(self):
        """The :class:`~golden_model.config.PanaceaConfig` this block was built for."""
        return self._config
