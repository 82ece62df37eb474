"""Detection post-processing: the detector's raw outputs (inputs named by their decoder roles),
GRID and the thresholds -> BOXES, SCORES, LANDMARKS in full-resolution pixels and FACE_COUNT, by
facev3.core.detection.decode (the code the embedded backend runs). Config parameter DETECTOR
holds the detector's spec (JSON)."""

import numpy as np

from facev3.core import detection
from facev3.core.models import detector_from_dict
from facev3.tritonserver.python_models._triton import each_request, inputs, json_parameter


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.detector = detector_from_dict(json_parameter(args, "DETECTOR"))
        self.roles = list(detection.DECODERS[self.detector.decoder].roles)

    def _handle(self, request) -> dict[str, np.ndarray]:
        given = inputs(request, [*self.roles, "GRID", "SCORE_THRESHOLD", "NMS_THRESHOLD"])
        pad_h, pad_w, scale_x, scale_y = given["GRID"].tolist()
        grid = detection.Grid(int(pad_h), int(pad_w), scale_x, scale_y)
        raw = {role: given[role] for role in self.roles}
        found = detection.decode(
            self.detector, raw, grid, float(given["SCORE_THRESHOLD"][0]), float(given["NMS_THRESHOLD"][0])
        )
        return {
            "BOXES": found.boxes,
            "SCORES": found.scores,
            "LANDMARKS": found.landmarks,
            "FACE_COUNT": np.array([len(found)], np.int32),
        }

    def execute(self, requests: list) -> list:
        return each_request(requests, self._handle)
