"""Embedders derived from the real SFace for tests of bring-your-own-model (no new weights):

- sface_1024: SFace followed by a fixed 128 -> 1024 linear map whose rows are orthonormal, so
  every cosine between two faces is SFace's (to float rounding) while vectors have 1024 values,
  like the plan's in-house "model v3";
- sface_arcface_convention: SFace's weights behind a front that takes what ArcFace-style models
  take, BGR planes scaled (x - 127.5) / 127.5 (and, to cover the other layout too, NHWC), and turns
  them back into SFace's raw RGB NCHW input inside the graph;
- sface_fixed_batch: SFace whose graph takes exactly N crops a run.

Each is written as an ONNX file with its manifest beside it, in a folder of the caller's.
"""

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from facev3.models import files, registry

SEED = 1024


def sface() -> onnx.ModelProto:
    return files.load_model(registry.load("sface"))


def orthonormal_rows(rows: int, columns: int, seed: int = SEED) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((columns, rows)))
    return np.ascontiguousarray(q.T, np.float32)  # (rows, columns), Q @ Q.T = I


def sface_1024(folder: Path) -> Path:
    model = sface()
    graph = model.graph
    graph.initializer.append(numpy_helper.from_array(orthonormal_rows(128, 1024), "projection"))
    graph.node.append(helper.make_node("MatMul", ["fc1", "projection"], ["embedding"]))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("embedding", onnx.TensorProto.FLOAT, ["N", 1024]))
    return _write(folder, "sface-1024", model, {"name": "data", "output": "embedding", "size": 1024})


def sface_fixed_batch(folder: Path, batch: int) -> Path:
    """SFace exported for exactly `batch` crops a run, as graphs built for TensorRT often are."""
    model = sface()
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_value = batch
    return _write(folder, f"sface-batch-{batch}", model, {"name": "data", "output": "fc1", "size": 128})


def sface_arcface_convention(folder: Path) -> Path:
    model = sface()
    graph = model.graph
    graph.input[0].name = "input.bgr"
    graph.input[0].type.tensor_type.shape.dim[1].dim_value = 112
    graph.input[0].type.tensor_type.shape.dim[3].dim_value = 3
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.float32(127.5), "half_range"),
            numpy_helper.from_array(np.array([2, 1, 0], np.int64), "bgr_to_rgb"),
        ]
    )
    front = [
        helper.make_node("Transpose", ["input.bgr"], ["planes"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", ["planes", "half_range"], ["scaled"]),
        helper.make_node("Add", ["scaled", "half_range"], ["pixels_bgr"]),
        helper.make_node("Gather", ["pixels_bgr", "bgr_to_rgb"], ["data"], axis=1),
    ]
    for node in reversed(front):
        graph.node.insert(0, node)
    extra = {"name": "input.bgr", "layout": "NHWC", "colour": "BGR", "mean": 127.5, "std": 127.5}
    return _write(folder, "sface-arcface-convention", model, {**extra, "output": "fc1", "size": 128})


def _write(folder: Path, name: str, model: onnx.ModelProto, io: dict) -> Path:
    onnx.checker.check_model(model, full_check=True)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.onnx"
    onnx.save(model, str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = folder / f"{name}.toml"
    manifest.write_text(f"""\
# A test embedder derived from SFace (tests/support/models.py).
role = "embedder"
name = "{name}"
version = "test"
licence = "Apache-2.0 (derived from OpenCV Zoo's SFace)"

[source]
path = "{path.name}"
sha256 = "{digest}"

[input]
name = "{io["name"]}"
layout = "{io.get("layout", "NCHW")}"
colour = "{io.get("colour", "RGB")}"
mean = {io.get("mean", 0.0)}
std = {io.get("std", 1.0)}

[output]
name = "{io["output"]}"
embedding_size = {io["size"]}

[alignment]
template = "arcface"
size = [112, 112]
""")
    return manifest
