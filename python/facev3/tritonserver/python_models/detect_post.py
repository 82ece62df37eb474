"""Detection post-processing: the detector's raw outputs, GRID and the thresholds -> BOXES,
SCORES, LANDMARKS in full-resolution pixels and FACE_COUNT, by facev3.detection.decode (the code
the embedded backend runs). Config parameter DETECTOR names the detector."""

import numpy as np

from facev3.core import detection
from facev3.tritonserver.python_models._triton import config_of, each_request, inputs, parameters


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = config_of(args)
        self.detector = detection.DETECTORS[parameters(config).get("DETECTOR", "yunet")]
        self.raw_names = [
            i["name"] for i in config["input"] if i["name"] not in ("GRID", "SCORE_THRESHOLD", "NMS_THRESHOLD")
        ]

    def _handle(self, request) -> dict[str, np.ndarray]:
        given = inputs(request, [*self.raw_names, "GRID", "SCORE_THRESHOLD", "NMS_THRESHOLD"])
        pad_h, pad_w, scale_x, scale_y = given["GRID"].tolist()
        grid = detection.Grid(int(pad_h), int(pad_w), scale_x, scale_y)
        raw = {name: given[name] for name in self.raw_names}
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
