"""Golden model of Panacea: numerics, formats, cycle and memory model (numpy only).

This package is the specification: the RTL, the testbenches and the users read its
definitions. It imports no HDL tooling.
"""

from .config import PRESETS, ConfigError, PanaceaConfig, load_config, preset

__all__ = ["PanaceaConfig", "ConfigError", "PRESETS", "preset", "load_config"]
