"""What a model is to the pipeline: how to feed a detector or an embedder and how to read it.

These specs are the typed form of a model manifest (facev3.models reads them from TOML). They are
plain data with numpy-only behaviour, because Triton's python-backend models use them too (they
arrive there as JSON in the model config's parameters; see `to_dict` and `*_from_dict`).
"""

from dataclasses import asdict, dataclass
from typing import Literal, get_args

import numpy as np

Layout = Literal["NCHW", "NHWC"]
Colour = Literal["RGB", "BGR"]
LAYOUTS, COLOURS = get_args(Layout), get_args(Colour)

# The ArcFace five-point template in a 112 x 112 crop (image-left eye, image-right eye, nose tip,
# mouth corners), as librerank's face_align.h defines it (a test keeps the two equal).
ARCFACE_TEMPLATE = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)


@dataclass(frozen=True)
class Calibration:
    """Logistic cosine -> 0-1 score: 0.5 at `threshold`, the model's operating point."""

    name: str
    threshold: float
    scale: float


@dataclass(frozen=True)
class TensorInput:
    """How images become a model's input tensor: x = (pixel - mean) / std per channel, in the
    model's colour order and layout, float32."""

    name: str
    layout: Layout = "NCHW"
    colour: Colour = "RGB"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)  # per channel, in the model's colour order
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def tensor(self, images_rgb: np.ndarray) -> np.ndarray:
        """(n, h, w, 3) uint8 RGB -> the model's float32 input, C-contiguous."""
        pixels = images_rgb[..., ::-1] if self.colour == "BGR" else images_rgb
        if self.layout == "NCHW":
            pixels = pixels.transpose(0, 3, 1, 2)
        x = np.ascontiguousarray(pixels, dtype=np.float32)
        if self.mean != (0.0, 0.0, 0.0) or self.std != (1.0, 1.0, 1.0):
            x -= np.asarray(self.mean, np.float32).reshape(self.channel_shape)
            x /= np.asarray(self.std, np.float32).reshape(self.channel_shape)
        return x

    @property
    def channel_shape(self) -> tuple[int, int, int, int]:
        """The shape that spreads a per-channel value over a batch in this layout."""
        return (1, 3, 1, 1) if self.layout == "NCHW" else (1, 1, 1, 3)

    def dims(self, height: int, width: int) -> list[int]:
        """The tensor's dims after the batch axis (-1 where free)."""
        return [3, height, width] if self.layout == "NCHW" else [height, width, 3]


@dataclass(frozen=True)
class Alignment:
    """Where the five landmarks go in the crop, and the crop's size."""

    template: tuple[tuple[float, float], ...] = ARCFACE_TEMPLATE
    size: tuple[int, int] = (112, 112)  # height, width

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.size, 3)


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    version: str
    input: TensorInput
    decoder: str  # a key of facev3.core.detection.DECODERS: how the raw outputs are read
    outputs: dict[str, str]  # the decoder's output role -> the model's tensor name
    score_threshold: float  # default detection threshold
    nms_threshold: float
    # rotations="fallback" also turns the photo when no upright face scores this much: a detector
    # may find faces lying on their side or upside down, with landmarks that misalign them and
    # scores below those of upright faces. 0: turn only when no face is found.
    upright_score: float = 0.0
    pad_multiple: int = 32  # input height and width are padded to multiples of this
    triton_model: str = ""  # the network's name in a Triton repository

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EmbedderSpec:
    name: str
    version: str
    input: TensorInput
    output: str  # the embedding tensor, (n, embedding_size)
    embedding_size: int
    alignment: Alignment = Alignment()
    calibration: Calibration | None = None  # None until `facev3 calibrate` has fitted one
    triton_model: str = ""
    # (midpoint, width) of the raw norm's logistic quality factor (facev3.core.quality); None: unused
    norm_quality: tuple[float, float] | None = None

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict:
        return asdict(self)


def detector_from_dict(data: dict) -> DetectorSpec:
    return DetectorSpec(**{**data, "input": _input_from_dict(data["input"])})


def embedder_from_dict(data: dict) -> EmbedderSpec:
    alignment = data["alignment"]
    calibration = data.get("calibration")
    return EmbedderSpec(
        **{
            **data,
            "input": _input_from_dict(data["input"]),
            "alignment": Alignment(tuple(map(tuple, alignment["template"])), tuple(alignment["size"])),
            "calibration": Calibration(**calibration) if calibration else None,
            "norm_quality": tuple(data["norm_quality"]) if data.get("norm_quality") else None,
        }
    )


def _input_from_dict(data: dict) -> TensorInput:
    return TensorInput(**{**data, "mean": tuple(data["mean"]), "std": tuple(data["std"])})
