"""A manifest's ONNX file: found (a file, or a resource of an installed wheel), checked against the
manifest's sha256, fixed when the manifest names built-in fixes, and checked against the manifest's
tensors (names, element type, dims) before anything runs it. Nothing is downloaded."""

import hashlib
import importlib.util
from pathlib import Path

from facev3.core.errors import ModelUnavailable
from facev3.core.models import DetectorSpec, EmbedderSpec
from facev3.models import onnx_cleaning
from facev3.models.manifest import Manifest, ManifestError

FLOAT = 1  # onnx.TensorProto.FLOAT


def source_path(manifest: Manifest) -> Path:
    source = manifest.source
    if source.path is not None:
        if not source.path.is_file():
            raise ModelUnavailable(f"model {manifest.tag}: {source.path} (source.path of {manifest.origin}) is missing")
        return source.path
    # find_spec locates the package without importing it (and its heavy dependencies).
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        hint = f" ({source.install})" if source.install else ""
        raise ModelUnavailable(f"model {manifest.tag} needs the '{source.package}' package{hint}")
    path = Path(spec.submodule_search_locations[0]) / source.resource
    if not path.is_file():
        raise ModelUnavailable(
            f"model {manifest.tag}: {source.resource} is missing from the '{source.package}' package"
        )
    return path


def available(manifest: Manifest) -> bool:
    try:
        source_path(manifest)
    except ModelUnavailable:
        return False
    return True


def load_model(manifest: Manifest):  # -> onnx.ModelProto (onnx is imported lazily: it is heavy)
    """The model a manifest describes, fixed and checked; raises ManifestError naming the field
    that disagrees with the file, or ModelUnavailable when the file is missing."""
    import onnx

    path = source_path(manifest)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest.source.sha256:
        raise ManifestError(
            f"model manifest {manifest.origin}: source.sha256: {path} has sha256 {digest}, "
            f"the manifest says {manifest.source.sha256}"
        )
    model = onnx.load_from_string(data)
    if manifest.source.fixes:
        onnx_cleaning.fix(model, manifest.source.fixes)
    check_graph(model, manifest)
    return model


def onnxruntime_model(manifest: Manifest):  # -> onnx.ModelProto
    """The checked model tuned for onnxruntime (what Triton and the baselines run)."""
    return onnx_cleaning.for_onnxruntime(load_model(manifest))


def io_dims(model) -> dict[str, list[int]]:
    """Dims of every graph input and output by name, -1 where free."""
    return {
        value.name: [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]
        for value in (*model.graph.input, *model.graph.output)
    }


def check_graph(model, manifest: Manifest) -> None:
    """The graph has the manifest's tensors, float32, with dims that agree where they are fixed."""
    spec = manifest.spec
    inputs = {value.name: value for value in model.graph.input}
    outputs = {value.name: value for value in model.graph.output}
    dims = io_dims(model)

    def fail(field: str, message: str) -> ManifestError:
        return ManifestError(f"model manifest {manifest.origin}: {field}: {message} ({_source_name(manifest)})")

    if spec.input.name not in inputs:
        raise fail("input.name", f"the model has no input {spec.input.name!r} (it has {', '.join(inputs)})")
    if inputs[spec.input.name].type.tensor_type.elem_type != FLOAT:
        raise fail("input.name", f"input {spec.input.name!r} is not float32")
    shape = dims[spec.input.name]
    if len(shape) != 4:
        raise fail("input.layout", f"input {spec.input.name!r} has {len(shape)} dims, expected 4 ({spec.input.layout})")
    channels = shape[1] if spec.input.layout == "NCHW" else shape[3]
    if channels not in (3, -1):
        raise fail("input.layout", f"input {spec.input.name!r} has dims {shape}: not 3 channels in {spec.input.layout}")
    if isinstance(spec, EmbedderSpec):
        _check_embedder(spec, shape, outputs, dims, fail)
    else:
        _check_detector(spec, outputs, fail)


def _check_embedder(spec: EmbedderSpec, shape: list[int], outputs: dict, dims: dict, fail) -> None:
    spatial = shape[2:] if spec.input.layout == "NCHW" else shape[1:3]
    if any(got not in (want, -1) for got, want in zip(spatial, spec.alignment.size, strict=True)):
        raise fail(
            "alignment.size",
            f"the model takes {spatial[0]} x {spatial[1]} crops, the manifest says "
            f"{spec.alignment.size[0]} x {spec.alignment.size[1]}",
        )
    if spec.output not in outputs:
        raise fail("output.name", f"the model has no output {spec.output!r} (it has {', '.join(outputs)})")
    if outputs[spec.output].type.tensor_type.elem_type != FLOAT:
        raise fail("output.name", f"output {spec.output!r} is not float32")
    size = dims[spec.output][-1] if dims[spec.output] else -1
    if size not in (spec.embedding_size, -1):
        raise fail(
            "output.embedding_size",
            f"output {spec.output!r} has {size} values per face, the manifest says {spec.embedding_size}",
        )


def _check_detector(spec: DetectorSpec, outputs: dict, fail) -> None:
    for role, name in spec.outputs.items():
        if name not in outputs:
            raise fail(f"output.tensors.{role}", f"the model has no output {name!r} (it has {', '.join(outputs)})")


def _source_name(manifest: Manifest) -> str:
    source = manifest.source
    return str(source.path) if source.path else f"{source.package}:{source.resource}"


def export(manifests: list[Manifest], directory: Path) -> list[Path]:
    """Writes each model's fixed, checked and onnxruntime-tuned ONNX file (for Triton, TensorRT and
    the baselines) as NAME-VERSION.onnx."""
    import onnx

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for manifest in manifests:
        path = directory / f"{manifest.spec.name}-{manifest.spec.version}.onnx"
        onnx.save(onnxruntime_model(manifest), str(path))
        written.append(path)
    return written
