"""Generate the Verilog of a Panacea core and its ``params.json``.

``generate(config)`` writes ``<build>/<name>-<digest>/panacea_<name>.v`` (top module
``panacea_<name>``, no source locations, byte-identical across runs) and ``params.json`` beside
it (:meth:`PanaceaConfig.to_json`); the directory is :func:`panacea_hdl.paths.design_dir`.
Files are written atomically and only when their content changes, so simulator builds that
depend on them stay cached; concurrent generations of one design take turns (a lock), and in
the design directory a generation from unchanged sources is skipped.
"""

from __future__ import annotations

from pathlib import Path

from golden_model.config import PanaceaConfig

from golden_model.fileio import atomic_write_text

from panacea_hdl.paths import design_dir, file_lock
from panacea_hdl.toolchain import use_pinned_yosys

__all__ = ["generate", "top_name", "verilog_text"]


def top_name(config: PanaceaConfig) -> str:
    """Verilog module name of the core built from ``config``."""
    return f"panacea_{config.name}"


def verilog_text(config: PanaceaConfig) -> str:
    """The Verilog of :class:`~panacea_hdl.rtl.top.PanaceaCore` for ``config`` (deterministic)."""
    from amaranth.back import verilog

    from panacea_hdl.rtl.top import PanaceaCore

    use_pinned_yosys()
    return verilog.convert(PanaceaCore(config=config), name=top_name(config), emit_src=False)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        atomic_write_text(path, text)


def _generator_digest(config: PanaceaConfig) -> str:
    """Hash of everything the Verilog of ``config`` depends on: the config and the sources of
    the generator and the golden model."""
    import hashlib

    import golden_model
    import panacea_hdl

    h = hashlib.sha256(config.to_json().encode())
    for pkg in (panacea_hdl, golden_model):
        root = Path(pkg.__file__).resolve().parent
        for f in sorted(root.rglob("*.py")):
            h.update(f"{pkg.__name__}/{f.relative_to(root).as_posix()}".encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def generate(config: PanaceaConfig, out_dir=None) -> dict:
    """Write the Verilog and the params JSON of ``config``.

    Parameters
    ----------
    config : PanaceaConfig
        The design.
    out_dir : path-like, optional
        Output directory; default :func:`panacea_hdl.paths.design_dir` of ``config``. There,
        the conversion (seconds for the default preset) is skipped when the files were
        written from the same config and generator sources (a digest beside them); a given
        ``out_dir`` is always written afresh.

    Returns
    -------
    dict
        ``{"verilog": Path, "params": Path, "top": str}``.
    """
    if not isinstance(config, PanaceaConfig):
        raise TypeError(f"config must be a golden_model.config.PanaceaConfig, "
                        f"not {type(config).__name__}")
    cached = out_dir is None
    out = Path(out_dir) if out_dir is not None else design_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    top = top_name(config)
    vpath = out / f"{top}.v"
    ppath = out / "params.json"
    stamp = out / ".generate-digest"
    with file_lock(out):        # one generation at a time; the others wait, then reuse it
        digest = _generator_digest(config) if cached else None
        if not (cached and stamp.exists() and stamp.read_text() == digest
                and vpath.exists() and ppath.exists()):
            _write_if_changed(vpath, verilog_text(config))
            _write_if_changed(ppath, config.to_json())
            if cached:
                atomic_write_text(stamp, digest)
    return {"verilog": vpath, "params": ppath, "top": top}
