"""Turn an Ultralytics YOLO-pose checkpoint (v8 / 11 family) into an ONNX graph.

:mod:`posemark.assist.torch_checkpoint` gives the module tree with numpy weights; this
module writes the same computation as ONNX nodes (batch-norm folded into each conv) so
ONNX Runtime runs it on the CPU without torch or Ultralytics. The graph stops at the
head's raw per-level maps (box distributions, person logit, keypoint offsets) and takes
any input size divisible by 32: anchor decoding is a few numpy lines
(:func:`decode_heads`) and keeping it out of the graph keeps the graph shape-agnostic.

Every module type the supported checkpoints use is written below; anything else fails
naming the module, so a newer architecture is refused rather than silently mis-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from posemark.assist.protocol import AssistError
from posemark.assist.torch_checkpoint import Module

OPSET = 17


@dataclass(frozen=True, slots=True)
class HeadSpec:
    """What the graph's outputs mean: per level ``box{i}``, ``cls{i}``, ``kpt{i}``."""

    strides: tuple[float, ...]
    reg_max: int
    num_keypoints: int
    keypoint_dims: int


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, array: np.ndarray, hint: str = "c") -> str:
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        """One node with one output; the output's name."""
        return self.op_outputs(op_type, inputs, 1, **attrs)[0]

    def op_outputs(self, op_type: str, inputs: list[str], n_out: int, **attrs: Any) -> list[str]:
        """One node with ``n_out`` outputs (Split); their names in order."""
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, **attrs))
        return outs

    # -- ultralytics building blocks -------------------------------------------------
    def conv2d(self, m: Module, x: str, bn: Module | None = None) -> str:
        w = np.asarray(m.param("weight"), dtype=np.float32)
        b = m.param("bias")
        bias = np.zeros(w.shape[0], np.float32) if b is None else np.asarray(b, np.float32)
        if bn is not None:
            gamma = np.asarray(bn.param("weight"), np.float32)
            beta = np.asarray(bn.param("bias"), np.float32)
            mean = np.asarray(bn.param("running_mean"), np.float32)
            var = np.asarray(bn.param("running_var"), np.float32)
            factor = gamma / np.sqrt(var + float(bn.attrs.get("eps", 1e-5)))
            w = w * factor[:, None, None, None]
            bias = (bias - mean) * factor + beta
        a = m.attrs
        pad = list(a["padding"]) if isinstance(a["padding"], tuple | list) else [a["padding"]] * 2
        return self.op(
            "Conv",
            [x, self.const(w, "w"), self.const(bias, "b")],
            kernel_shape=list(a["kernel_size"]),
            strides=list(a["stride"]),
            pads=pad + pad,
            dilations=list(a["dilation"]),
            group=int(a["groups"]),
        )

    def conv(self, m: Module, x: str) -> str:
        """Ultralytics ``Conv``/``DWConv``: conv, batch norm, then SiLU or nothing."""
        y = self.conv2d(m.child("conv"), x, m.children.get("bn"))
        act = m.children.get("act")
        kind = act.kind if act is not None else "Identity"
        if kind == "SiLU":
            return self.op("Mul", [y, self.op("Sigmoid", [y])])
        if kind == "Identity":
            return y
        raise AssistError(f"YOLO graph: activation {kind!r} is not supported")

    def split2(self, x: str, c: int) -> list[str]:
        return self.op_outputs("Split", [x, self.const(np.array([c, c], np.int64))], 2, axis=1)

    def bottleneck(self, m: Module, x: str) -> str:
        y = self.conv(m.child("cv2"), self.conv(m.child("cv1"), x))
        return self.op("Add", [x, y]) if m.attrs.get("add") else y

    def sequence(self, m: Module, x: str) -> str:
        for child in m.children.values():
            x = self.block(child, x)
        return x

    def c2f(self, m: Module, x: str) -> str:
        """``C2f`` / ``C3k2``: split in two, run each inner block on the last piece."""
        ys = self.split2(self.conv(m.child("cv1"), x), int(m.attrs["c"]))
        for inner in m.child("m").children.values():
            ys.append(self.block(inner, ys[-1]))
        return self.conv(m.child("cv2"), self.op("Concat", ys, axis=1))

    def c3(self, m: Module, x: str) -> str:
        """``C3`` / ``C3k``: inner blocks on one 1x1 branch, concatenated with the other."""
        a = self.sequence(m.child("m"), self.conv(m.child("cv1"), x))
        b = self.conv(m.child("cv2"), x)
        return self.conv(m.child("cv3"), self.op("Concat", [a, b], axis=1))

    def sppf(self, m: Module, x: str) -> str:
        pool = m.child("m").attrs
        k, p = int(pool["kernel_size"]), int(pool["padding"])
        ys = [self.conv(m.child("cv1"), x)]
        for _ in range(3):
            ys.append(
                self.op("MaxPool", [ys[-1]], kernel_shape=[k, k], strides=[1, 1], pads=[p] * 4)
            )
        return self.conv(m.child("cv2"), self.op("Concat", ys, axis=1))

    def attention(self, m: Module, x: str) -> str:
        heads, kd, hd = (int(m.attrs[k]) for k in ("num_heads", "key_dim", "head_dim"))
        scale = float(m.attrs["scale"])
        shape = self.op("Shape", [x])  # (B, C, H, W)
        qkv = self.conv(m.child("qkv"), x)
        qkv = self.op("Reshape", [qkv, self.const(np.array([0, heads, 2 * kd + hd, -1], np.int64))])
        q, k, v = self.op_outputs(
            "Split", [qkv, self.const(np.array([kd, kd, hd], np.int64))], 3, axis=2
        )
        attn = self.op("MatMul", [self.op("Transpose", [q], perm=[0, 1, 3, 2]), k])
        attn = self.op("Mul", [attn, self.const(np.array(scale, np.float32))])
        attn = self.op("Softmax", [attn], axis=-1)
        out = self.op("MatMul", [v, self.op("Transpose", [attn], perm=[0, 1, 3, 2])])
        out = self.op("Reshape", [out, shape])
        pe = self.conv(m.child("pe"), self.op("Reshape", [v, shape]))
        return self.conv(m.child("proj"), self.op("Add", [out, pe]))

    def psa_block(self, m: Module, x: str) -> str:
        add = bool(m.attrs.get("add", True))
        a = self.attention(m.child("attn"), x)
        x = self.op("Add", [x, a]) if add else a
        f = self.sequence(m.child("ffn"), x)
        return self.op("Add", [x, f]) if add else f

    def c2psa(self, m: Module, x: str) -> str:
        a, b = self.split2(self.conv(m.child("cv1"), x), int(m.attrs["c"]))
        b = self.sequence(m.child("m"), b)
        return self.conv(m.child("cv2"), self.op("Concat", [a, b], axis=1))

    def upsample(self, m: Module, x: str) -> str:
        s = float(m.attrs.get("scale_factor") or 2.0)
        if m.attrs.get("mode", "nearest") != "nearest":
            raise AssistError("YOLO graph: only nearest upsampling is supported")
        scales = self.const(np.array([1, 1, s, s], np.float32))
        return self.op(
            "Resize",
            [x, "", scales],
            mode="nearest",
            nearest_mode="floor",
            coordinate_transformation_mode="asymmetric",
        )

    def block(self, m: Module, x: str) -> str:
        kind = m.kind
        if kind in ("Conv", "DWConv"):
            return self.conv(m, x)
        if kind == "Conv2d":
            return self.conv2d(m, x)
        if kind == "Bottleneck":
            return self.bottleneck(m, x)
        if kind in ("C2f", "C3k2"):
            return self.c2f(m, x)
        if kind in ("C3", "C3k"):
            return self.c3(m, x)
        if kind == "SPPF":
            return self.sppf(m, x)
        if kind == "C2PSA":
            return self.c2psa(m, x)
        if kind == "PSABlock":
            return self.psa_block(m, x)
        if kind == "Upsample":
            return self.upsample(m, x)
        if kind in ("Sequential", "ModuleList"):
            return self.sequence(m, x)
        raise AssistError(f"YOLO graph: module {m.module}.{kind} is not supported")


def build_pose_graph(model: Module) -> tuple[bytes, HeadSpec]:
    """A serialized ONNX model (input ``images``: (1, 3, H, W) RGB in [0, 1], H and W
    multiples of 32) and what its outputs mean, from an Ultralytics ``PoseModel``."""
    layers = list(model.child("model").children.values())
    head = layers[-1]
    if head.kind != "Pose":
        raise AssistError(f"YOLO graph: the last layer is {head.kind}, not a Pose head")
    g = _Graph()
    x = "images"
    saved: dict[int, str] = {}
    outputs: list[str] = []
    for index, layer in enumerate(layers[:-1]):
        frm = layer.attrs.get("f", -1)
        if isinstance(frm, list):
            ins = [x if j == -1 else saved[j] for j in frm]
            if layer.kind != "Concat":
                raise AssistError(f"YOLO graph: layer {index} ({layer.kind}) has several inputs")
            x = g.op("Concat", ins, axis=int(layer.attrs.get("d", 1)))
        else:
            x = g.block(layer, x if frm == -1 else saved[int(frm)])
        saved[index] = x
    feats = [saved[j] for j in head.attrs["f"]]
    nl = int(head.attrs["nl"])
    for i in range(nl):
        for branch, label in (("cv2", "box"), ("cv3", "cls"), ("cv4", "kpt")):
            out = g.sequence(head.child(branch)[i], feats[i])
            name = f"{label}{i}"
            g.nodes.append(helper.make_node("Identity", [out], [name]))
            outputs.append(name)
    kpt_shape = [int(v) for v in head.attrs["kpt_shape"]]
    spec = HeadSpec(
        strides=tuple(float(s) for s in np.asarray(head.attrs["stride"]).tolist()),
        reg_max=int(head.attrs.get("reg_max", 16)),
        num_keypoints=kpt_shape[0],
        keypoint_dims=kpt_shape[1],
    )
    float_t = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes,
        "posemark_yolo_pose",
        [helper.make_tensor_value_info("images", float_t, [1, 3, "height", "width"])],
        [helper.make_tensor_value_info(n, float_t, [1, None, None, None]) for n in outputs],
        g.inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto.SerializeToString(), spec


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def decode_heads(outputs: list[np.ndarray], spec: HeadSpec) -> np.ndarray:
    """The raw per-level maps as Ultralytics' exported layout ``(1, 5 + 3K, N)``: box
    centre and size in input pixels (distribution focal loss expectation around each
    anchor), person score, then keypoints ``x, y, score`` -- what
    :func:`posemark.assist.yolo_pose.decode` reads."""
    nl = len(spec.strides)
    boxes, scores, kpts = [], [], []
    bins = np.arange(spec.reg_max, dtype=np.float32)
    for i in range(nl):
        box, cls, kpt = outputs[3 * i], outputs[3 * i + 1], outputs[3 * i + 2]
        _, _, h, w = box.shape
        stride = spec.strides[i]
        ys, xs = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
        ax, ay = xs.reshape(-1), ys.reshape(-1)
        dist = box.reshape(4, spec.reg_max, h * w)
        dist = np.exp(dist - dist.max(axis=1, keepdims=True))
        dist = (dist / dist.sum(axis=1, keepdims=True) * bins[None, :, None]).sum(axis=1)
        x0, y0 = ax - dist[0], ay - dist[1]
        x1, y1 = ax + dist[2], ay + dist[3]
        boxes.append(np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]) * stride)
        scores.append(_sigmoid(cls.reshape(1, h * w)))
        k = kpt.reshape(spec.num_keypoints, spec.keypoint_dims, h * w).astype(np.float64)
        out = np.empty((spec.num_keypoints, 3, h * w))
        out[:, 0] = (k[:, 0] * 2.0 + (ax - 0.5)) * stride
        out[:, 1] = (k[:, 1] * 2.0 + (ay - 0.5)) * stride
        out[:, 2] = _sigmoid(k[:, 2]) if spec.keypoint_dims == 3 else 1.0
        kpts.append(out.reshape(spec.num_keypoints * 3, h * w))
    merged = np.concatenate(
        [np.concatenate(boxes, 1), np.concatenate(scores, 1), np.concatenate(kpts, 1)], 0
    )
    return merged[None]
