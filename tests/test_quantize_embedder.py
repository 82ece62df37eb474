"""The int8 report's harness (bench/quantize_embedder.py) stays working: a quantized SFace runs on
both runtimes close to fp32, and its manifest loads through the model checks like any other."""

import numpy as np
import onnx

from bench import quantize_embedder
from facev3.models import files, registry
from facev3.models.manifest import load_manifest
from tests.support.photos import photo_path


def test_a_quantized_sface_runs_near_fp32_and_loads_through_its_manifest(tmp_path):
    crops, reference, owners = quantize_embedder.aligned_faces([photo_path(n) for n in ("t1.jpg", "obama_small.jpg")])
    assert len(crops) >= 7 and set(owners) == {0, 1}
    tensor = np.ascontiguousarray(registry.load("sface").spec.input.tensor(crops))
    clean, int8 = tmp_path / "sface-fp32.onnx", tmp_path / "sface-int8.onnx"
    onnx.save(files.load_model(registry.load("sface")), str(clean))
    quantize_embedder.quantize(clean, tensor[owners == 0], "MinMax", int8)
    assert "QuantizeLinear" in {node.op_type for node in onnx.load(str(int8)).graph.node}

    measured = quantize_embedder.on_runtimes(quantize_embedder.both_runtimes(onnx.load(str(int8))), tensor, reference)
    for runtime in ("onnxruntime", "openvino"):
        cosines = measured[runtime]["cosines"]
        assert cosines.shape == (len(crops),) and 0.8 < cosines.min() < 1.0  # close, and not the fp32 graph
        assert measured[runtime]["b1_ms_per_face"] > 0

    manifest = load_manifest(quantize_embedder.manifest_for(int8, "minmax"))
    assert manifest.spec.version == "2021dec-minmax" and manifest.spec.calibration is not None
    assert files.load_model(manifest).graph.output[0].name == "fc1"
