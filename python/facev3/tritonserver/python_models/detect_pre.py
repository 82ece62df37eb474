"""Detection pre-processing: IMAGE (h, w, 3) uint8 RGB and MAX_SIDE -> DETECTOR_INPUT, the padded
planes of facev3.detection.prepare, and GRID (padded height, padded width, scale x, scale y).
Config parameter DETECTOR names the detector (its channel order)."""

import numpy as np

from facev3.core import detection
from facev3.tritonserver.python_models._triton import config_of, each_request, inputs, parameters


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.detector = detection.DETECTORS[parameters(config_of(args)).get("DETECTOR", "yunet")]

    def _handle(self, request) -> dict[str, np.ndarray]:
        given = inputs(request, ["IMAGE", "MAX_SIDE"])
        prepared = detection.prepare(given["IMAGE"], int(given["MAX_SIDE"][0]), self.detector.bgr)
        g = prepared.grid
        return {
            "DETECTOR_INPUT": prepared.tensor,
            "GRID": np.array([g.padded_height, g.padded_width, g.scale_x, g.scale_y], np.float32),
        }

    def execute(self, requests: list) -> list:
        return each_request(requests, self._handle)
