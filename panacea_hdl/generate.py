"""Generate the Verilog of a Panacea core and its ``params.json``.

``generate(config)`` writes ``build/<name>/panacea_<name>.v`` (top module ``panacea_<name>``,
no source locations, byte-identical across runs) and ``build/<name>/params.json``
(:meth:`PanaceaConfig.to_json`). Files are rewritten only when their content changes, so
simulator builds that depend on them stay cached.
"""

from __future__ import annotations

from pathlib import Path

from golden_model.config import PanaceaConfig

__all__ = ["generate", "top_name", "verilog_text", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def top_name(config: PanaceaConfig) -> str:
    """Verilog module name of the core built from ``config``."""
    return f"panacea_{config.name}"


def verilog_text(config: PanaceaConfig) -> str:
    """The Verilog of :class:`~panacea_hdl.top.PanaceaCore` for ``config`` (deterministic)."""
    from amaranth.back import verilog

    from .top import PanaceaCore

    return verilog.convert(PanaceaCore(config=config), name=top_name(config), emit_src=False)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def generate(config: PanaceaConfig, out_dir=None) -> dict:
    """Write the Verilog and the params JSON of ``config``.

    Parameters
    ----------
    config : PanaceaConfig
        The design.
    out_dir : path-like, optional
        Output directory; default ``build/<config.name>`` in the repository.

    Returns
    -------
    dict
        ``{"verilog": Path, "params": Path, "top": str}``.
    """
    if not isinstance(config, PanaceaConfig):
        raise TypeError(f"config must be a golden_model.config.PanaceaConfig, "
                        f"not {type(config).__name__}")
    out = Path(out_dir) if out_dir is not None else REPO_ROOT / "build" / config.name
    out.mkdir(parents=True, exist_ok=True)
    top = top_name(config)
    vpath = out / f"{top}.v"
    ppath = out / "params.json"
    _write_if_changed(vpath, verilog_text(config))
    _write_if_changed(ppath, config.to_json())
    return {"verilog": vpath, "params": ppath, "top": top}
