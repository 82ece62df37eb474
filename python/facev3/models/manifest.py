"""Model manifests: one TOML file per model that says everything the code needs to run it (README,
"Bring your own model", documents every field).

A manifest is read strictly: an unknown field, a wrong type or a value out of range stops the
start with a ManifestError that names the file and the field, so nothing runs silently wrong.
"""

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from facev3.core import detection
from facev3.core.models import (
    ARCFACE_TEMPLATE,
    COLOURS,
    LAYOUTS,
    Alignment,
    Calibration,
    DetectorSpec,
    EmbedderSpec,
    TensorInput,
    detector_from_dict,
    embedder_from_dict,
)
from facev3.models.onnx_cleaning import FIXES

Role = Literal["detector", "embedder"]
ROLES = get_args(Role)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # usable in tags, file and Triton model names
MISSING = object()
TYPE_NAMES = {str: "a string", float: "a number", int: "a whole number", list: "a list", dict: "a table"}


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Source:
    """Where the ONNX file comes from: a file (`path`, relative to the manifest) or a resource of
    an installed package (`package`, `resource`), checked against `sha256` before use."""

    sha256: str
    path: Path | None = None
    package: str | None = None
    resource: str | None = None
    install: str = ""  # how to get the package, for the error when it is missing
    fixes: str | None = None  # built-in graph fixes for a shipped file (facev3.models.onnx_cleaning)


@dataclass(frozen=True)
class Manifest:
    role: Role
    spec: DetectorSpec | EmbedderSpec
    source: Source
    licence: str
    origin: str  # the manifest file, or where its text came from

    @property
    def tag(self) -> str:
        return self.spec.tag

    def to_dict(self) -> dict:
        """A JSON-able copy (Triton's model configs carry it, so a client knows what runs)."""
        source = {k: str(v) for k, v in vars(self.source).items() if v is not None}
        return {"role": self.role, "spec": self.spec.to_dict(), "source": source, "licence": self.licence}


# Spec fields -> the manifest fields they are read from, for messages.
MANIFEST_FIELDS = {
    "output": "output.name",
    "outputs": "output.tensors",
    "decoder": "output.decoder",
    "embedding_size": "output.embedding_size",
    "score_threshold": "detection.score_threshold",
    "nms_threshold": "detection.nms_threshold",
    "upright_score": "detection.upright_score",
    "pad_multiple": "input.pad_multiple",
    "triton_model": "triton.model",
}


# How a model is used, not what it is: the calibration is fitted later for the same vectors, and
# the upright score only decides when the pipeline turns a photo.
USE_FIELDS = ("calibration", "upright_score")


def first_difference(ours: Manifest, theirs: Manifest) -> str | None:
    """The first manifest field in which two manifests describe different models, or None;
    USE_FIELDS are not part of a model's identity."""

    def flat(manifest: Manifest) -> dict:
        spec = {k: v for k, v in manifest.spec.to_dict().items() if k not in USE_FIELDS}
        # Through JSON, as a manifest that came from Triton did: tuples and lists compare equal.
        return json.loads(json.dumps({"role": manifest.role, **spec, "source": {"sha256": manifest.source.sha256}}))

    mine, other = flat(ours), flat(theirs)
    differing = next((key for key in mine if mine[key] != other.get(key)), None)
    if differing is None:
        return None
    if isinstance(mine[differing], dict):  # name the first differing member
        inner = next(k for k in mine[differing] if mine[differing][k] != (other.get(differing) or {}).get(k))
        return f"{MANIFEST_FIELDS.get(differing, differing)}.{inner}"
    return MANIFEST_FIELDS.get(differing, differing)


def write_calibration(path: Path, calibration: Calibration) -> None:
    """Sets the [calibration] table of the manifest at `path`, keeping the rest of the file
    (comments included) as it was; the result is read back to check it."""
    import tomlkit

    document = tomlkit.parse(path.read_text())
    table = tomlkit.table()
    table.add(tomlkit.comment("Fitted by `facev3 calibrate` (Platt scaling, class-balanced)."))
    for key, value in (("name", calibration.name), ("threshold", calibration.threshold), ("scale", calibration.scale)):
        table.add(key, value)
    document["calibration"] = table
    written = tomlkit.dumps(document)
    parse_manifest(tomllib.loads(written), str(path), path.parent)
    path.write_text(written)


def manifest_from_dict(data: dict, origin: str) -> Manifest:
    """The inverse of Manifest.to_dict."""
    spec = detector_from_dict(data["spec"]) if data["role"] == "detector" else embedder_from_dict(data["spec"])
    source = dict(data["source"])
    if "path" in source:
        source["path"] = Path(source["path"])
    return Manifest(data["role"], spec, Source(**source), data["licence"], origin)


def load_manifest(path: Path) -> Manifest:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise ManifestError(f"model manifest {path} cannot be read: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"model manifest {path} is not valid TOML: {error}") from None
    return parse_manifest(data, str(path), path.parent)


class Fields:
    """One table of a manifest, read field by field; errors name the file and the dotted field."""

    def __init__(self, table: dict, origin: str, prefix: str = "") -> None:
        self._table, self._origin, self._prefix, self._read = table, origin, prefix, set()

    def error(self, key: str, message: str) -> ManifestError:
        return ManifestError(f"model manifest {self._origin}: {self._prefix}{key}: {message}")

    def get(self, key: str, kind: type | tuple, default=MISSING):
        self._read.add(key)
        if key not in self._table:
            if default is MISSING:
                raise self.error(key, "missing")
            return default
        value = self._table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise self.error(key, f"expected {' or '.join(TYPE_NAMES[k] for k in kinds)}, got {value!r}")
        return value

    def has(self, key: str) -> bool:
        return key in self._table

    def name(self, key: str, default=MISSING) -> str:
        value = self.get(key, str, default)
        if not NAME.fullmatch(value):
            raise self.error(key, f"{value!r} must be letters, digits, '_', '.' or '-'")
        return value

    def choice(self, key: str, choices, default=MISSING) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self.error(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def number(self, key: str, low: float, high: float, default=MISSING) -> float:
        value = float(self.get(key, (float, int), default))
        if not low <= value <= high:
            raise self.error(key, f"must be between {low} and {high}, got {value}")
        return value

    def integer(self, key: str, low: int, high: int, default=MISSING) -> int:
        value = self.get(key, int, default)
        if not low <= value <= high:
            raise self.error(key, f"must be between {low} and {high}, got {value}")
        return value

    def triple(self, key: str, default: float) -> tuple[float, float, float]:
        """A number for all three channels, or a list of three."""
        value = self.get(key, (list, float, int), default)
        values = value if isinstance(value, list) else [value] * 3
        if len(values) != 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise self.error(key, f"expected a number or a list of 3 numbers, got {value!r}")
        return tuple(float(v) for v in values)

    def table(self, key: str, required: bool = True) -> "Fields":
        value = self.get(key, dict, MISSING if required else {})
        return Fields(value, self._origin, f"{self._prefix}{key}.")

    def done(self) -> None:
        unknown = sorted(set(self._table) - self._read)
        if unknown:
            raise self.error(unknown[0], "unknown field (a typo?)")


def parse_manifest(data: dict, origin: str, base: Path) -> Manifest:
    fields = Fields(data, origin)
    role = fields.choice("role", ROLES)
    name, version = fields.name("name"), fields.name("version")
    licence = fields.get("licence", str)
    source = _source(fields.table("source"), base)
    triton = fields.table("triton", required=False)
    triton_model = triton.name("model", name)
    triton.done()
    tensor_input = fields.table("input")
    spec_input = TensorInput(
        name=tensor_input.get("name", str),
        layout=tensor_input.choice("layout", LAYOUTS, "NCHW"),
        colour=tensor_input.choice("colour", COLOURS, "RGB"),
        mean=tensor_input.triple("mean", 0.0),
        std=tensor_input.triple("std", 1.0),
    )
    if 0.0 in spec_input.std:
        raise tensor_input.error("std", "must not be 0")
    if role == "detector":
        spec = _detector(fields, tensor_input, name, version, spec_input, triton_model)
    else:
        tensor_input.done()
        spec = _embedder(fields, name, version, spec_input, triton_model)
    fields.done()
    return Manifest(role, spec, source, licence, origin)


def _source(fields: Fields, base: Path) -> Source:
    sha256 = fields.get("sha256", str)
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise fields.error("sha256", "expected 64 lower-case hexadecimal digits")
    path = fields.get("path", str, None)
    package, resource = fields.get("package", str, None), fields.get("resource", str, None)
    if (path is None) == (package is None) or (package is None) != (resource is None):
        raise fields.error("path", "give either path (a file) or package and resource (a file inside a package)")
    fixes = fields.get("fixes", str, None)
    if fixes is not None and fixes not in FIXES:
        raise fields.error("fixes", f"expected one of {', '.join(FIXES)}, got {fixes!r}")
    install = fields.get("install", str, "")
    fields.done()
    resolved = None if path is None else (base / path if not Path(path).is_absolute() else Path(path))
    return Source(sha256, resolved, package, resource, install, fixes)


def _detector(fields: Fields, tensor_input: Fields, name, version, spec_input, triton_model) -> DetectorSpec:
    pad_multiple = tensor_input.integer("pad_multiple", 1, 1024, 32)
    tensor_input.done()
    output = fields.table("output")
    decoder = output.choice("decoder", list(detection.DECODERS))
    roles = detection.DECODERS[decoder].roles
    tensors = output.table("tensors", required=False)
    names = {role: tensors.get(role, str, role) for role in roles}
    tensors.done()
    output.done()
    thresholds = fields.table("detection", required=False)
    spec = DetectorSpec(
        name=name,
        version=version,
        input=spec_input,
        decoder=decoder,
        outputs=names,
        score_threshold=thresholds.number("score_threshold", 0.01, 1.0, 0.5),
        nms_threshold=thresholds.number("nms_threshold", 0.01, 1.0, 0.3),
        upright_score=thresholds.number("upright_score", 0.0, 1.0, 0.0),
        pad_multiple=pad_multiple,
        triton_model=triton_model,
    )
    thresholds.done()
    return spec


def _embedder(fields: Fields, name, version, spec_input, triton_model) -> EmbedderSpec:
    output = fields.table("output")
    output_name, size = output.get("name", str), output.integer("embedding_size", 1, 65536)
    output.done()
    alignment = fields.table("alignment", required=False)
    height, width = _pair(alignment, "size", [112, 112])
    template = alignment.get("template", (str, list), "arcface")
    if template == "arcface" and (height, width) == (112, 112):
        points = ARCFACE_TEMPLATE
    elif template == "arcface":  # the ArcFace points, scaled to the crop
        points = tuple((x * width / 112, y * height / 112) for x, y in ARCFACE_TEMPLATE)
    elif isinstance(template, list) and len(template) == 5 and all(_is_point(p) for p in template):
        points = tuple((float(x), float(y)) for x, y in template)
    else:
        raise alignment.error("template", f'expected "arcface" or five [x, y] points, got {template!r}')
    alignment.done()
    calibration = None
    if fields.has("calibration"):
        table = fields.table("calibration")
        calibration = Calibration(
            name=table.get("name", str),
            threshold=table.number("threshold", -1.0, 1.0),
            scale=table.number("scale", 1e-6, 1e6),
        )
        table.done()
    norm_quality = None
    if fields.has("quality"):
        table = fields.table("quality")
        norm_quality = (table.number("norm_midpoint", 0.0, 1e6), table.number("norm_width", 1e-6, 1e6))
        table.done()
    return EmbedderSpec(
        name=name,
        version=version,
        input=spec_input,
        output=output_name,
        embedding_size=size,
        alignment=Alignment(points, (height, width)),
        calibration=calibration,
        triton_model=triton_model,
        norm_quality=norm_quality,
    )


def _pair(fields: Fields, key: str, default: list) -> tuple[int, int]:
    value = fields.get(key, list, default)
    if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and 16 <= v <= 1024 for v in value):
        raise fields.error(key, f"expected [height, width], whole numbers from 16 to 1024, got {value!r}")
    return value[0], value[1]


def _is_point(point) -> bool:
    return isinstance(point, list) and len(point) == 2 and all(isinstance(v, (int, float)) for v in point)
