"""Embedding post-processing: FEATURES (n, d) -> EMBEDDING (n, d), raw, and NORM (n, 1), its L2
norm; the client normalizes when asked, so the norm stays available as a quality signal."""

import numpy as np

from facev3.tritonserver.python_models._triton import each_request, inputs


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        pass

    def _handle(self, request) -> dict[str, np.ndarray]:
        features = inputs(request, ["FEATURES"])["FEATURES"].astype(np.float32)
        return {"EMBEDDING": features, "NORM": np.linalg.norm(features, axis=1, keepdims=True)}

    def execute(self, requests: list) -> list:
        return each_request(requests, self._handle)
