"""A Triton model repository generated from two manifests (a detector and an embedder).

Two ensembles are what facev3 calls, whatever the models:
  face_detect  detect_pre (downscale, pad, the detector's tensor) -> the detector network ->
               detect_post (decode, NMS, back to full-resolution pixels); one image per request
  face_embed   embed_pre (uint8 crops -> the embedder's tensor) -> the embedder network ->
               embed_post (raw EMBEDDING and its NORM); batched up to max_batch_size
Tensor names, dims, colour order and scaling follow the manifests: the python models receive
the specs as JSON parameters, and each ensemble carries its model's manifest (MANIFEST) so that
a client knows what runs. The networks run on one of three runtimes:
  python       Triton's python backend with onnxruntime on the CPU (the pip-installed local
               tritonserver has no other backend)
  onnxruntime  Triton's onnxruntime backend on a GPU
  tensorrt     TensorRT plans on a GPU: the ONNX file is left as model.onnx next to a
               trtexec.args file, for triton-infer-custom/build.sh to build model.plan from
"""

import json
from pathlib import Path
from typing import Literal, get_args

from facev3.core.models import DetectorSpec, EmbedderSpec
from facev3.models import files
from facev3.models.manifest import Manifest

Runtime = Literal["python", "onnxruntime", "tensorrt"]
RUNTIMES = get_args(Runtime)
PYTHON_MODELS = ("detect_pre", "detect_post", "embed_pre", "embed_post")


def write_repository(
    out: Path,
    detector: Manifest,
    embedder: Manifest,
    *,
    runtime: Runtime = "python",
    max_batch: int = 32,
    max_side: int = 1280,
) -> Path:
    """Writes the repository into `out` (which must not exist) and returns it. max_side bounds the
    detector's input for TensorRT's optimisation profile."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    out.mkdir(parents=True)
    det, emb = detector.spec, embedder.spec
    detector_dims = files.io_dims(_write_network(out, detector, runtime))
    _write_network(out, embedder, runtime)
    detector_outputs = {role: detector_dims[name] for role, name in det.outputs.items()}
    input_dims = det.input.dims(-1, -1)
    crop_dims = list(emb.alignment.shape)
    configs = {
        "detect_pre": _python(
            "detect_pre",
            0,
            {"IMAGE": ("UINT8", [-1, -1, 3]), "MAX_SIDE": ("INT32", [1])},
            {"DETECTOR_INPUT": ("FP32", [1, *input_dims]), "GRID": ("FP32", [4])},
            {"DETECTOR": json.dumps(det.to_dict())},
        ),
        det.triton_model: _network(
            det.triton_model,
            runtime,
            0,
            {det.input.name: [1, *input_dims]},
            {name: detector_dims[name] for name in det.outputs.values()},
        ),
        "detect_post": _python(
            "detect_post",
            0,
            {
                **{role: ("FP32", dims) for role, dims in detector_outputs.items()},
                "GRID": ("FP32", [4]),
                "SCORE_THRESHOLD": ("FP32", [1]),
                "NMS_THRESHOLD": ("FP32", [1]),
            },
            DETECTIONS,
            {"DETECTOR": json.dumps(det.to_dict())},
        ),
        "face_detect": _ensemble(
            "face_detect",
            0,
            _detect_steps(det),
            detector,
            {
                "IMAGE": ("UINT8", [-1, -1, 3]),
                "MAX_SIDE": ("INT32", [1]),
                "SCORE_THRESHOLD": ("FP32", [1]),
                "NMS_THRESHOLD": ("FP32", [1]),
            },
            DETECTIONS,
        ),
        "embed_pre": _python(
            "embed_pre",
            max_batch,
            {"CROPS": ("UINT8", crop_dims)},
            {"DATA": ("FP32", emb.input.dims(*emb.alignment.size))},
            {"EMBEDDER": json.dumps(emb.to_dict())},
        ),
        emb.triton_model: _network(
            emb.triton_model,
            runtime,
            max_batch,
            {emb.input.name: emb.input.dims(*emb.alignment.size)},
            {emb.output: [emb.embedding_size]},
        ),
        "embed_post": _python(
            "embed_post", max_batch, {"FEATURES": ("FP32", [emb.embedding_size])}, _embeddings(emb), {}
        ),
        "face_embed": _ensemble(
            "face_embed", max_batch, _embed_steps(emb), embedder, {"CROPS": ("UINT8", crop_dims)}, _embeddings(emb)
        ),
    }
    for name, config in configs.items():
        (out / name / "1").mkdir(parents=True, exist_ok=True)
        (out / name / "config.pbtxt").write_text(config)
        if name in PYTHON_MODELS or (runtime == "python" and name in (det.triton_model, emb.triton_model)):
            module = name if name in PYTHON_MODELS else "onnx_model"
            (out / name / "1" / "model.py").write_text(
                f'"""Triton loads this file; the model is facev3.tritonserver.python_models.{module}."""\n\n'
                f"from facev3.tritonserver.python_models.{module} import TritonPythonModel  # noqa: F401\n"
            )
    if runtime == "tensorrt":
        _trtexec_args(out, det, emb, max_batch, max_side)
    return out


DETECTIONS = {
    "BOXES": ("FP32", [-1, 4]),
    "SCORES": ("FP32", [-1]),
    "LANDMARKS": ("FP32", [-1, 5, 2]),
    "FACE_COUNT": ("INT32", [1]),
}


def _embeddings(spec: EmbedderSpec) -> dict:
    return {"EMBEDDING": ("FP32", [spec.embedding_size]), "NORM": ("FP32", [1])}


def _write_network(out: Path, manifest: Manifest, runtime: Runtime):
    """The network's fixed, checked and onnxruntime-tuned ONNX file as <model>/1/model.onnx;
    returns the graph."""
    import onnx

    model = files.onnxruntime_model(manifest)
    folder = out / manifest.spec.triton_model / "1"
    folder.mkdir(parents=True)
    onnx.save(model, str(folder / "model.onnx"))
    return model


def _detect_steps(spec: DetectorSpec) -> list[dict]:
    return [
        _step(
            "detect_pre",
            {"IMAGE": "IMAGE", "MAX_SIDE": "MAX_SIDE"},
            {"DETECTOR_INPUT": "detector_input", "GRID": "grid"},
        ),
        _step(
            spec.triton_model, {spec.input.name: "detector_input"}, {name: role for role, name in spec.outputs.items()}
        ),
        _step(
            "detect_post",
            {
                **{role: role for role in spec.outputs},
                "GRID": "grid",
                "SCORE_THRESHOLD": "SCORE_THRESHOLD",
                "NMS_THRESHOLD": "NMS_THRESHOLD",
            },
            {name: name for name in DETECTIONS},
        ),
    ]


def _embed_steps(spec: EmbedderSpec) -> list[dict]:
    return [
        _step("embed_pre", {"CROPS": "CROPS"}, {"DATA": "crop_tensor"}),
        _step(spec.triton_model, {spec.input.name: "crop_tensor"}, {spec.output: "features"}),
        _step("embed_post", {"FEATURES": "features"}, {"EMBEDDING": "EMBEDDING", "NORM": "NORM"}),
    ]


def _step(model: str, inputs: dict, outputs: dict) -> dict:
    return {"model_name": model, "model_version": -1, "input_map": inputs, "output_map": outputs}


def _tensors(tensors: dict) -> list[dict]:
    return [{"name": name, "data_type": f"TYPE_{dtype}", "dims": dims} for name, (dtype, dims) in tensors.items()]


def _python(name: str, max_batch: int, inputs: dict, outputs: dict, parameters: dict) -> str:
    return _config(
        {
            "name": name,
            "backend": "python",
            "max_batch_size": max_batch,
            "input": _tensors(inputs),
            "output": _tensors(outputs),
            "instance_group": [{"kind": "KIND_CPU", "count": 1}],
            "parameters": {key: {"string_value": value} for key, value in parameters.items()},
        }
    )


def _network(name: str, runtime: Runtime, max_batch: int, inputs: dict, outputs: dict) -> str:
    config = {
        "name": name,
        "max_batch_size": max_batch,
        "input": _tensors({k: ("FP32", v) for k, v in inputs.items()}),
        "output": _tensors({k: ("FP32", v) for k, v in outputs.items()}),
        "instance_group": [{"kind": "KIND_CPU" if runtime == "python" else "KIND_GPU", "count": 1}],
    }
    if max_batch:
        config["dynamic_batching"] = {"max_queue_delay_microseconds": 1000}
    if runtime == "python":
        config |= {"backend": "python", "parameters": {"MODEL_FILE": {"string_value": "model.onnx"}}}
    else:
        config["platform"] = "onnxruntime_onnx" if runtime == "onnxruntime" else "tensorrt_plan"
    return _config(config)


def _ensemble(name: str, max_batch: int, steps: list[dict], manifest: Manifest, inputs: dict, outputs: dict) -> str:
    return _config(
        {
            "name": name,
            "platform": "ensemble",
            "max_batch_size": max_batch,
            "input": _tensors(inputs),
            "output": _tensors(outputs),
            "ensemble_scheduling": {"step": steps},
            "parameters": {"MANIFEST": {"string_value": json.dumps(manifest.to_dict())}},
        }
    )


def _config(config: dict) -> str:
    """A config in protobuf text format, checked against Triton's ModelConfig message."""
    from google.protobuf import json_format, text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.MessageToString(json_format.ParseDict(config, model_config_pb2.ModelConfig()))


def _trtexec_args(out: Path, det: DetectorSpec, emb: EmbedderSpec, max_batch: int, max_side: int) -> None:
    """The shapes of each network's TensorRT optimisation profile, for build.sh's trtexec."""
    side = -(-max_side // det.pad_multiple) * det.pad_multiple

    def shapes(name: str, dims: list[list[int]]) -> str:
        return " ".join(
            f"--{kind}Shapes={name}:{'x'.join(map(str, d))}"
            for kind, d in zip(("min", "opt", "max"), dims, strict=True)
        )

    pad = det.pad_multiple
    detector = [[1, *det.input.dims(pad, pad)], [1, *det.input.dims(640, 640)], [1, *det.input.dims(side, side)]]
    crops = [[b, *emb.input.dims(*emb.alignment.size)] for b in (1, max(1, max_batch // 2), max_batch)]
    (out / det.triton_model / "trtexec.args").write_text(shapes(det.input.name, detector) + "\n")
    (out / emb.triton_model / "trtexec.args").write_text(shapes(emb.input.name, crops) + "\n")
