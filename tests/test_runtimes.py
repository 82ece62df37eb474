"""The embedded backend's runtimes (facev3.backends.runtimes): OpenVINO and onnxruntime give the
same faces and embeddings on real photos, "auto" keeps one per model by timing both, and what
cannot run stops the start with a message saying why."""

import logging
import os
import sys
import threading
import time

import numpy as np
import pytest

from facev3 import bootstrap
from facev3.backends import runtimes
from facev3.config import Settings, SettingsError
from facev3.core import detection
from facev3.models import files, registry
from tests.support.photos import photo_path

PHOTOS = ("t1.jpg", "Rob_Lowe_0001.jpg", "obama_small.jpg")


@pytest.fixture(scope="module")
def pipelines():
    built = {runtime: bootstrap.build_pipeline(Settings(runtime=runtime)) for runtime in ("onnxruntime", "openvino")}
    yield built
    for pipeline in built.values():
        pipeline.backend.close()


def assert_same_faces_and_embeddings(pipeline, reference, name: str) -> None:
    photo = photo_path(name).read_bytes()
    (ours,), _ = pipeline.run([photo])
    (theirs,), _ = reference.run([photo])
    assert len(ours.faces) == len(theirs.faces) >= 1
    for face, twin in zip(ours.faces, theirs.faces, strict=True):
        np.testing.assert_allclose(face.box, twin.box, atol=0.5)
        assert float(face.embedding @ twin.embedding) >= 0.999


@pytest.mark.parametrize("name", PHOTOS)
def test_openvino_gives_onnxruntimes_faces_and_embeddings(pipelines, name):
    assert_same_faces_and_embeddings(pipelines["openvino"], pipelines["onnxruntime"], name)


def test_each_model_runs_where_it_was_asked(pipelines):
    assert pipelines["openvino"].backend.runtimes == {"detector": "openvino", "embedder": "openvino"}
    assert pipelines["onnxruntime"].backend.runtimes == {"detector": "onnxruntime", "embedder": "onnxruntime"}


def test_faces_are_embedded_in_the_runtimes_fastest_batch_unless_a_batch_is_set(pipelines):
    assert pipelines["openvino"].backend.embed_batch == runtimes.OpenVinoModel.fastest_batch == 8
    assert pipelines["onnxruntime"].backend.embed_batch == runtimes.OnnxRuntimeModel.fastest_batch == 2
    backend = bootstrap.build_backend(Settings(runtime="openvino", max_batch_size=3))
    try:
        assert backend.embed_batch == 3
    finally:
        backend.close()


def test_auto_times_both_runtimes_and_keeps_the_faster_for_each_model(caplog):
    spec = registry.load("sface").spec
    data = files.load_model(registry.load("sface"))
    calls = {"onnxruntime": 0, "openvino": 0}

    def probe(model):
        calls[model.runtime] += 1
        crops = np.zeros((2, *spec.alignment.shape), np.uint8)
        return model.run([spec.output], {spec.input.name: spec.input.tensor(crops)})

    with caplog.at_level("INFO", logger="facev3.runtimes"):
        chosen = runtimes.load(data, "auto", threads=1, streams=1, providers=["CPUExecutionProvider"], probe=probe)
    assert calls == {"onnxruntime": 2 + runtimes.TIMED_RUNS, "openvino": 2 + runtimes.TIMED_RUNS}
    (record,) = caplog.records
    assert record.getMessage().startswith(f"{chosen.runtime} runs the model: onnxruntime ")


def test_openvino_runs_concurrent_calls_on_at_most_streams_copies(monkeypatch):
    detector = registry.load("yunet")
    model = runtimes.OpenVinoModel(files.load_model(detector), threads=1, streams=2)
    compiled = []
    copy = model._copy
    monkeypatch.setattr(model, "_copy", lambda: compiled.append(1) or copy())
    tensors = [
        detection.prepare(np.full((240, 320, 3), value, np.uint8), 640, detector.spec).tensor for value in (0, 128)
    ]
    expected = [model.run(model.output_names, {"input": t}) for t in tensors]
    got: dict[int, list] = {}
    start = threading.Barrier(4)

    def work(i: int) -> None:
        start.wait()
        got[i] = [model.run(model.output_names, {"input": tensors[i % 2]}) for _ in range(5)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(compiled) <= 1  # the copy made at the start, and at most one more for 2 streams
    assert sorted(got) == [0, 1, 2, 3]
    for i, runs in got.items():
        for outputs in runs:
            for value, reference in zip(outputs, expected[i % 2], strict=True):
                np.testing.assert_array_equal(value, reference)


def test_openvino_computes_in_fp32_even_on_a_cpu_with_bf16_units():
    import openvino as ov

    model = runtimes.OpenVinoModel(files.load_model(registry.load("sface")), threads=1, streams=1)
    compiled = model._idle.get_nowait().get_compiled_model()
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32


def test_a_bf16_embedder_gives_real_faces_their_fp32_embeddings(pipelines, caplog):
    """bf16 where the CPU has the units (fp32 elsewhere), and the start says which; the detector
    stays fp32, so the faces are the same. Over the 118 faces of the shared photos the lowest
    cosine was 0.99948."""
    import openvino as ov

    caplog.set_level(logging.INFO, "facev3.backends")
    pipeline = bootstrap.build_pipeline(Settings(runtime="openvino", embedder_precision="bf16"))
    try:
        expected = "bf16" if runtimes.has_bf16_units(ov.Core()) else "fp32"
        assert pipeline.backend.embedder_precision == expected
        assert f"detector on openvino, embedder on openvino in {expected}" in caplog.text
        for name in PHOTOS:
            assert_same_faces_and_embeddings(pipeline, pipelines["onnxruntime"], name)
    finally:
        pipeline.backend.close()


def test_bf16_is_compiled_where_the_cpu_has_bf16_units_and_fp32_elsewhere():
    import openvino as ov

    units = runtimes.has_bf16_units(ov.Core())
    model = runtimes.OpenVinoModel(files.load_model(registry.load("sface")), threads=1, streams=1, precision="bf16")
    compiled = model._idle.get_nowait().get_compiled_model()
    assert model.precision == ("bf16" if units else "fp32")
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == (ov.Type.bf16 if units else ov.Type.f32)


def test_bf16_on_a_cpu_without_the_units_says_so_and_computes_in_fp32(monkeypatch, caplog):
    """Even where OpenVINO would honour the hint (this test's CPU may have the units)."""
    import openvino as ov

    monkeypatch.setattr(runtimes, "has_bf16_units", lambda core: False)
    model = runtimes.OpenVinoModel(files.load_model(registry.load("sface")), threads=1, streams=1, precision="bf16")
    compiled = model._idle.get_nowait().get_compiled_model()
    assert model.precision == "fp32" and compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    assert "no bf16 units" in caplog.text


@pytest.mark.parametrize("units", [True, False])
def test_auto_keeps_a_bf16_embedder_on_openvino_without_timing_it(monkeypatch, units):
    """bf16 is what was asked for, so no race against onnxruntime's fp32 may undo it; without the
    units both runtimes compute fp32 and are timed as usual."""
    monkeypatch.setattr(runtimes, "has_bf16_units", lambda core: units)
    spec = registry.load("sface").spec
    feeds = {spec.input.name: spec.input.tensor(np.zeros((2, *spec.alignment.shape), np.uint8))}
    probes = []

    def probe(model):
        probes.append(model.runtime)
        return model.run([spec.output], feeds)

    data = files.load_model(registry.load("sface"))
    chosen = runtimes.load(
        data, "auto", threads=1, streams=1, providers=["CPUExecutionProvider"], probe=probe, precision="bf16"
    )
    assert chosen.runtime == "openvino" if units else chosen.precision == "fp32"
    assert sorted(set(probes)) == ([] if units else ["onnxruntime", "openvino"])


def test_tensorrt_is_reported_computing_in_fp16():
    from facev3.backends.local import PROVIDERS

    assert [runtimes.fp16_tensorrt(p) for p in PROVIDERS["tensorrt"]] == [True, False, False]
    assert not any(runtimes.fp16_tensorrt(p) for p in PROVIDERS["cuda"] + PROVIDERS["cpu"])


def test_openvino_computes_in_the_calling_thread():
    """The caller's own CPU time covers the model: SFace is 1.15 GFLOP a face, which no core runs
    in fp32 in under 2 ms (575 GFLOP/s), where a hand-off to a stream thread would leave the
    caller a few us."""
    spec = registry.load("sface").spec
    model = runtimes.OpenVinoModel(files.load_model(registry.load("sface")), threads=1, streams=1)
    feeds = {spec.input.name: spec.input.tensor(np.zeros((4, *spec.alignment.shape), np.uint8))}
    model.run([spec.output], feeds)
    started = time.thread_time()
    model.run([spec.output], feeds)
    assert time.thread_time() - started > 4 * 0.002


def test_what_cannot_run_stops_the_start_saying_why(monkeypatch):
    data = files.load_model(registry.load("sface"))
    with pytest.raises(SettingsError, match="runs on the CPU only"):
        runtimes.load(data, "openvino", threads=1, streams=1, providers=["CUDAExecutionProvider"], probe=print)
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if it were not installed
    with pytest.raises(SettingsError, match=r"pip install 'facev3\[openvino\]'"):
        runtimes.load(data, "openvino", threads=1, streams=1, providers=["CPUExecutionProvider"], probe=print)
    chosen = runtimes.load(data, "auto", threads=1, streams=1, providers=["CPUExecutionProvider"], probe=print)
    assert chosen.runtime == "onnxruntime"
    with pytest.raises(SettingsError, match="bf16 runs on OpenVINO"):
        runtimes.load(
            data, "auto", threads=1, streams=1, providers=["CPUExecutionProvider"], probe=print, precision="bf16"
        )


@pytest.mark.parametrize(
    ("runtime", "providers"), [("onnxruntime", ["CPUExecutionProvider"]), ("auto", ["CUDAExecutionProvider"])]
)
def test_bf16_is_refused_where_openvino_cannot_run_the_embedder(runtime, providers):
    data = files.load_model(registry.load("sface"))
    with pytest.raises(SettingsError, match="bf16 runs on OpenVINO"):
        runtimes.load(data, runtime, threads=1, streams=1, providers=providers, probe=print, precision="bf16")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "200000 100000\n"}, 2),  # cgroup v2, a limit of 2 CPUs
        ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs: the second core is used in part
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),  # no cgroup CPU controller
    ],
)
def test_cores_are_capped_by_the_containers_cpu_quota(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    affinity = len(os.sched_getaffinity(0))
    assert runtimes.cores(tmp_path) == (affinity if expected is None else min(affinity, expected))


def test_a_gpu_provider_that_cannot_start_stops_the_start_instead_of_running_on_the_cpu():
    """onnxruntime's CPU build (this test's) only warns when asked for CUDA and runs on the CPU,
    as the GPU build does when CUDA or cuDNN is missing: FACEV3_DEVICE=cuda must not silently
    mean the CPU."""
    data = files.load_model(registry.load("sface"))
    with pytest.raises(SettingsError, match="could not start CUDAExecutionProvider"):
        runtimes.OnnxRuntimeModel(data, 1, ["CUDAExecutionProvider", "CPUExecutionProvider"])
