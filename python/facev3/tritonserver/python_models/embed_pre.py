"""Embedding pre-processing: CROPS (n, 112, 112, 3) uint8 RGB -> DATA (n, 3, 112, 112) float32
with raw 0-255 values (SFace normalizes inside its graph)."""

import numpy as np

from facev3.tritonserver.python_models._triton import each_request, inputs


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        pass

    def execute(self, requests: list) -> list:
        return each_request(
            requests, lambda r: {"DATA": inputs(r, ["CROPS"])["CROPS"].transpose(0, 3, 1, 2).astype(np.float32)}
        )
