"""Detection pre-processing: IMAGE (h, w, 3) uint8 RGB and MAX_SIDE -> DETECTOR_INPUT, the padded
tensor of facev3.core.detection.prepare, and GRID (padded height, padded width, scale x, scale y).
Config parameter DETECTOR holds the detector's spec (JSON)."""

import numpy as np

from facev3.core import detection
from facev3.core.models import detector_from_dict
from facev3.tritonserver.python_models._triton import each_request, inputs, json_parameter


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.detector = detector_from_dict(json_parameter(args, "DETECTOR"))

    def _handle(self, request) -> dict[str, np.ndarray]:
        given = inputs(request, ["IMAGE", "MAX_SIDE"])
        prepared = detection.prepare(given["IMAGE"], int(given["MAX_SIDE"][0]), self.detector)
        g = prepared.grid
        return {
            "DETECTOR_INPUT": prepared.tensor,
            "GRID": np.array([g.padded_height, g.padded_width, g.scale_x, g.scale_y], np.float32),
        }

    def execute(self, requests: list) -> list:
        return each_request(requests, self._handle)
