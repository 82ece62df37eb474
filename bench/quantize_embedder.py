"""Int8 SFace, and SFace computed in bf16, against issue 18's gate for a reduced-precision mode:
no loss in `facev3 evaluate` on the labelled photos (TAR at the operating point equal) and a cosine
to the fp32 result of at least 0.99 for every face (of every photo under the folder, unlabelled
crowds too).

    .venv/bin/python -m bench.quantize_embedder [PHOTOS] [--out bench/results/embedder_precision.json]

The clean SFace graph is quantized with onnxruntime's static QDQ quantization (int8 weights per
channel, uint8 activations), calibrated on the aligned faces of every other labelled photo, once
per calibration method. For each int8 graph it reports the cosine of every face's embedding to
the fp32 onnxruntime one (all faces, and the faces the calibration never saw), the time a face
on one thread on both runtimes, and `facev3 evaluate`'s numbers through a manifest of its own.
On a CPU with bf16 units the fp32 graph is also run on OpenVINO in bf16
(FACEV3_EMBEDDER_PRECISION=bf16), evaluated with the runtimes chosen as the service chooses them.
The int8 files live in a temporary folder: model files are never committed.
"""

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

from facev3 import bootstrap
from facev3.backends import runtimes
from facev3.config import Settings
from facev3.core.pipeline import EmbedOptions
from facev3.evaluation.labelled import load_labelled
from facev3.models import files, registry

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "data" / "faces"
METHODS = ("MinMax", "Percentile")
GATE_COSINE = 0.99
TIMED_BATCHES = (1, 4)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")  # every photo under the folder, crowds too, for the cosines


def aligned_faces(photos: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every face of every photo: aligned crops, fp32 onnxruntime embeddings and the photo's index."""
    pipeline = bootstrap.build_pipeline(Settings(runtime="onnxruntime"))
    try:
        crops, embeddings, owners = [], [], []
        for index, photo in enumerate(photos):
            (result,), _ = pipeline.run([photo.read_bytes()], EmbedOptions(return_aligned=True))
            for face in result.faces:
                crops.append(face.aligned)
                embeddings.append(face.embedding)
                owners.append(index)
    finally:
        pipeline.backend.close()
    return np.array(crops), np.array(embeddings), np.array(owners)


def quantize(clean: Path, calibration: np.ndarray, method: str, out: Path) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Crops(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter({"data": calibration[i : i + 1]} for i in range(len(calibration)))

        def get_next(self) -> dict | None:
            return next(self.feeds, None)

    prepared = out.with_suffix(".pre.onnx")
    quant_pre_process(str(clean), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(out),
        Crops(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=getattr(CalibrationMethod, method),
    )


def embed(model: runtimes.Model, tensor: np.ndarray) -> np.ndarray:
    raw = np.concatenate([model.run(["fc1"], {"data": tensor[i : i + 2]})[0] for i in range(0, len(tensor), 2)])
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


def ms_per_face(model: runtimes.Model, tensor: np.ndarray, batch: int) -> float:
    feeds = {"data": tensor[:batch]}
    for _ in range(3):
        model.run(["fc1"], feeds)
    runs = []
    for _ in range(max(5, 40 // batch)):
        started = time.perf_counter()
        model.run(["fc1"], feeds)
        runs.append(time.perf_counter() - started)
    return float(np.median(runs)) / batch * 1e3


def on_runtimes(models: list[runtimes.Model], tensor: np.ndarray, reference: np.ndarray) -> dict:
    out = {}
    for model in models:
        cosines = np.sum(embed(model, tensor) * reference, axis=1)
        times = {f"b{b}_ms_per_face": ms_per_face(model, tensor, b) for b in TIMED_BATCHES}
        out[model.runtime] = {"cosines": cosines, **times}
    return out


def manifest_for(onnx_path: Path, name: str) -> Path:
    """The built-in SFace manifest with its source swapped for the int8 file (same calibration)."""
    text = registry.BUILTIN["sface"].read_text()
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    source = f'[source]\npath = "{onnx_path.name}"\nsha256 = "{digest}"\n\n'
    text = re.sub(r"\[source\].*?(?=\[input\])", source, text, flags=re.S)
    text = text.replace('version = "2021dec"', f'version = "2021dec-{name}"')
    path = onnx_path.with_suffix(".toml")
    path.write_text(text)
    return path


def both_runtimes(graph) -> list[runtimes.Model]:
    return [runtimes.OnnxRuntimeModel(graph, 1, ["CPUExecutionProvider"]), runtimes.OpenVinoModel(graph, 1, 1)]


def evaluate(photos: Path, embedder: str, folder: Path, precision: str = "fp32") -> dict:
    """`facev3 evaluate` as a user runs it: on onnxruntime, or for bf16 as the service picks."""
    runtime = "onnxruntime" if precision == "fp32" else "auto"
    out = folder / f"evaluate-{Path(embedder).stem}-{precision}.json"
    command = ["evaluate", str(photos), "--embedder", embedder, "--report", str(out.with_suffix(".html"))]
    subprocess.run(
        [sys.executable, "-m", "facev3.cli", *command, "--json", str(out)],
        check=True,
        capture_output=True,
        env={**os.environ, "FACEV3_RUNTIME": runtime, "FACEV3_EMBEDDER_PRECISION": precision},
    )
    point = orjson.loads(out.read_bytes())["at_threshold"]
    return {"tar": point["tar"], "far": point["far"], "accuracy": point["accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path, nargs="?", default=PHOTOS, help="a labelled set (facev3 evaluate's)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "embedder_precision.json")
    args = parser.parse_args()
    import onnx

    load_labelled(args.photos)  # refused early when evaluate would refuse it
    photos = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    crops, reference, owners = aligned_faces(photos)
    spec = registry.load("sface").spec
    tensor = np.ascontiguousarray(spec.input.tensor(crops))
    unseen = owners % 2 == 1  # calibration takes the faces of the even photos
    report: dict = {"faces": len(crops), "unseen_faces": int(unseen.sum()), "graphs": {}}
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        clean = folder / "sface-fp32.onnx"
        onnx.save(files.load_model(registry.load("sface")), str(clean))
        graphs = {"fp32": clean}
        for method in METHODS:
            graphs[f"int8 {method}"] = folder / f"sface-int8-{method.lower()}.onnx"
            quantize(clean, tensor[~unseen], method, graphs[f"int8 {method}"])
        runs = [(name, path, both_runtimes(onnx.load(str(path))), "fp32") for name, path in graphs.items()]
        bf16 = runtimes.OpenVinoModel(onnx.load(str(clean)), 1, 1, precision="bf16")
        if bf16.precision == "bf16":  # else the CPU has no bf16 units
            runs.append(("fp32, computed in bf16", clean, [bf16], "bf16"))
        for name, path, models, precision in runs:
            measured = on_runtimes(models, tensor, reference)
            embedder = str(manifest_for(path, name.split()[1].lower())) if name.startswith("int8") else "sface"
            report["graphs"][name] = {
                "evaluate": evaluate(args.photos, embedder, folder, precision),
                **{
                    runtime: {
                        "cosine_min": float(m["cosines"].min()),
                        "cosine_min_unseen": float(m["cosines"][unseen].min()) if name.startswith("int8") else None,
                        "cosine_p5": float(np.percentile(m["cosines"], 5)),
                        **{k: v for k, v in m.items() if k != "cosines"},
                    }
                    for runtime, m in measured.items()
                },
            }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(table(report))


def unseen_part(cosine: float | None) -> str:
    return "" if cosine is None else f" ({cosine:.4f})"


def table(report: dict) -> str:
    fp32 = report["graphs"]["fp32"]["evaluate"]["tar"]
    lines = [
        f"{report['faces']} faces ({report['unseen_faces']} unseen by the calibration); gate: cosine >= "
        f"{GATE_COSINE} for every face and TAR at the operating point equal ({fp32:.2%} on fp32)",
        "",
        "| graph | runtime | cosine min (unseen) | cosine p5 | "
        + " | ".join(f"ms/face b{b}" for b in TIMED_BATCHES)
        + " | TAR | gate |",
        "|---|---|---|---|" + "---|" * len(TIMED_BATCHES) + "---|---|",
    ]
    for name, graph in report["graphs"].items():
        tar = graph["evaluate"]["tar"]
        for runtime in ("onnxruntime", "openvino"):
            if runtime not in graph:
                continue
            m = graph[runtime]
            passed = m["cosine_min"] >= GATE_COSINE and tar >= fp32
            lines.append(
                f"| {name} | {runtime} | {m['cosine_min']:.4f}{unseen_part(m['cosine_min_unseen'])} | "
                + f"{m['cosine_p5']:.4f} | "
                + " | ".join(f"{m[f'b{b}_ms_per_face']:.1f}" for b in TIMED_BATCHES)
                + f" | {tar:.2%} | {'pass' if passed else 'fail'} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
