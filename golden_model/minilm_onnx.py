"""MiniLM-L6 written as an ONNX graph from the packaged weights (``onnx.helper``, no PyTorch).

:func:`build_minilm_onnx` writes the same network as :func:`golden_model.minilm.forward` for
**one sentence** (no padding, so no attention mask): input ``input_ids`` (int64, [T]), output
``embedding`` (float32, [384], L2-normalised mean of the last hidden states). The 36 linear
layers are ONNX nodes named like :func:`golden_model.minilm.layer_names` (``L0.q`` ...
``L5.ffn_out``): ``q``, ``k``, ``v`` and ``attn_out`` are ``Gemm`` with the PyTorch (out x in)
weight and ``transB=1``, ``ffn_in`` and ``ffn_out`` are ``MatMul`` with the (in x out)
weight followed by a bias ``Add`` -- both layouts an exporter produces. Attention score and
context products are MatMuls of computed tensors; GELU is built from ``Erf``; LayerNorm is the
opset-17 ``LayerNormalization``.

:func:`sentence_inputs` tokenizes sentences into the ``.npz`` layout of
``panacea model onnx --inputs`` (one sample per sentence, keys ``input_ids:<i>``).

From the shell::

    python -m golden_model.minilm_onnx build/minilm.onnx build/minilm_inputs.npz
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from .minilm import LINEAR_NAMES, MiniLM, load_minilm

__all__ = ["OPSET", "build_minilm_onnx", "sentence_inputs", "save_sentence_inputs", "main"]

#: ONNX opset of the graph (LayerNormalization needs 17).
OPSET = 17

_HF = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
       "attn_out": "attention.output.dense", "ffn_in": "intermediate.dense",
       "ffn_out": "output.dense"}
_GEMM = ("q", "k", "v", "attn_out")


def build_minilm_onnx(model: MiniLM | None = None):
    """The MiniLM-L6 encoder of ``model`` (default :func:`load_minilm`) as an ``onnx.ModelProto``.

    Raises :class:`golden_model.minilm.MiniLMError` when the weights package is missing.
    """
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    model = model or load_minilm()
    c, wts = model.config, model.weights
    H, D = c.heads, c.head_dim
    inits, nodes = [], []

    def init(name, arr):
        inits.append(nh.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op, ins, outs, **kw):
        nodes.append(h.make_node(op, ins, outs, **kw))
        return outs[0]

    f32 = lambda a: np.asarray(a, np.float32)                           # noqa: E731
    # embeddings: word[ids] + position[0:T] + token_type[0], LayerNorm
    word = init("emb.word", f32(wts["embeddings.word_embeddings.weight"]))
    pos = init("emb.pos", f32(wts["embeddings.position_embeddings.weight"]))
    tt = init("emb.type0", f32(wts["embeddings.token_type_embeddings.weight"][0]))
    init("c.zero", np.array([0], np.int64))
    init("c.shape_heads", np.array([-1, H, D], np.int64))
    init("c.shape_hidden", np.array([-1, H * D], np.int64))
    init("c.scale", np.array(1.0 / math.sqrt(D), np.float32))
    init("c.sqrt2", np.array(math.sqrt(2.0), np.float32))
    init("c.one", np.array(1.0, np.float32))
    init("c.half", np.array(0.5, np.float32))
    e = node("Gather", [word, "input_ids"], ["e.word"], axis=0)
    n_tok = node("Shape", ["input_ids"], ["e.T"])
    p = node("Slice", [pos, "c.zero", n_tok, "c.zero"], ["e.pos"])
    e = node("Add", [e, p], ["e.wp"])
    e = node("Add", [e, tt], ["e.sum"])

    def layer_norm(x, prefix, out):
        g = init(out + ".g", f32(wts[prefix + ".weight"]))
        b = init(out + ".b", f32(wts[prefix + ".bias"]))
        return node("LayerNormalization", [x, g, b], [out], axis=-1, epsilon=c.eps)

    hid = layer_norm(e, "embeddings.LayerNorm", "e.ln")

    def linear(i, n, x):
        pre = f"encoder.layer.{i}.{_HF[n]}"
        w_out_in = f32(wts[pre + ".weight"])                # PyTorch layout: out x in
        b = init(f"L{i}.{n}.bias", f32(wts[pre + ".bias"]))
        if n in _GEMM:
            w = init(f"L{i}.{n}.weight", w_out_in)
            return node("Gemm", [x, w, b], [f"L{i}.{n}.y"], name=f"L{i}.{n}", transB=1)
        w = init(f"L{i}.{n}.weight", np.ascontiguousarray(w_out_in.T))
        y = node("MatMul", [x, w], [f"L{i}.{n}.mm"], name=f"L{i}.{n}")
        return node("Add", [y, b], [f"L{i}.{n}.y"])

    for i in range(c.layers):
        t = f"L{i}."
        q, k, v = (linear(i, n, hid) for n in ("q", "k", "v"))
        heads = {}
        for n, x, perm in (("q", q, [1, 0, 2]), ("k", k, [1, 2, 0]), ("v", v, [1, 0, 2])):
            r = node("Reshape", [x, "c.shape_heads"], [t + n + ".heads"])
            heads[n] = node("Transpose", [r], [t + n + ".t"], perm=perm)
        s = node("MatMul", [heads["q"], heads["k"]], [t + "scores"], name=t + "scores")
        s = node("Mul", [s, "c.scale"], [t + "scores.scaled"])
        pr = node("Softmax", [s], [t + "probs"], axis=-1)
        ctx = node("MatMul", [pr, heads["v"]], [t + "ctx.heads"], name=t + "context")
        ctx = node("Transpose", [ctx], [t + "ctx.t"], perm=[1, 0, 2])
        ctx = node("Reshape", [ctx, "c.shape_hidden"], [t + "ctx"])
        a = linear(i, "attn_out", ctx)
        a = node("Add", [a, hid], [t + "attn.res"])
        hid = layer_norm(a, f"encoder.layer.{i}.attention.output.LayerNorm", t + "attn.ln")
        f = linear(i, "ffn_in", hid)
        g = node("Div", [f, "c.sqrt2"], [t + "gelu.div"])
        g = node("Erf", [g], [t + "gelu.erf"])
        g = node("Add", [g, "c.one"], [t + "gelu.add"])
        g = node("Mul", [f, g], [t + "gelu.mul"])
        g = node("Mul", [g, "c.half"], [t + "gelu"])
        o = linear(i, "ffn_out", g)
        o = node("Add", [o, hid], [t + "ffn.res"])
        hid = layer_norm(o, f"encoder.layer.{i}.output.LayerNorm", t + "out.ln")
    pooled = node("ReduceMean", [hid], ["pooled"], axes=[0], keepdims=0)
    node("LpNormalization", [pooled], ["embedding"], axis=-1, p=2)

    assert {n.name for n in nodes if n.name.split(".")[-1] in LINEAR_NAMES} == \
        {f"L{i}.{n}" for i in range(c.layers) for n in LINEAR_NAMES}
    graph = h.make_graph(nodes, "minilm_l6", [h.make_tensor_value_info("input_ids", T.INT64, ["T"])],
                         [h.make_tensor_value_info("embedding", T.FLOAT, [H * D])], inits)
    m = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)],
                     producer_name="panacea-hdl golden_model.minilm_onnx")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def sentence_inputs(sentences, model: MiniLM | None = None) -> dict:
    """``{"input_ids:<i>": int64 [T_i]}``: the token ids of each sentence (one sample each)."""
    ids = (model or load_minilm()).tokenize(sentences)
    return {f"input_ids:{i}": t for i, t in enumerate(ids)}


def save_sentence_inputs(path, sentences, model: MiniLM | None = None):
    """Write :func:`sentence_inputs` to an ``.npz`` file; returns its path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.savez(p, **sentence_inputs(sentences, model))
    return p


def main(argv=None):
    """``python -m golden_model.minilm_onnx MODEL.onnx [INPUTS.npz]``: write the graph and,
    optionally, inputs (calibration sentences first, then the built-in held-out ones)."""
    import onnx

    from .minilm import DEFAULT_SENTENCES
    from .minilm import CALIBRATION_SENTENCES

    argv = sys.argv[1:] if argv is None else argv
    if not 1 <= len(argv) <= 2:
        print(main.__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_minilm_onnx(), str(out))
    print(f"wrote {out}")
    if len(argv) == 2:
        sents = list(CALIBRATION_SENTENCES) + list(DEFAULT_SENTENCES)
        print(f"wrote {save_sentence_inputs(argv[1], sents)}: {len(CALIBRATION_SENTENCES)} "
              f"calibration + {len(DEFAULT_SENTENCES)} held-out sentences")
    return 0


if __name__ == "__main__":
    sys.exit(main())
