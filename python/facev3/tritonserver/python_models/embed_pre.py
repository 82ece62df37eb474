"""Embedding pre-processing: CROPS (n, height, width, 3) uint8 RGB -> DATA, the embedder's input
tensor (its layout, colour order and scaling, by facev3.core.models.TensorInput, the code the
embedded backend runs). Config parameter EMBEDDER holds the embedder's spec (JSON)."""

from facev3.core.models import embedder_from_dict
from facev3.tritonserver.python_models._triton import each_request, inputs, json_parameter


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.input = embedder_from_dict(json_parameter(args, "EMBEDDER")).input

    def execute(self, requests: list) -> list:
        return each_request(requests, lambda r: {"DATA": self.input.tensor(inputs(r, ["CROPS"])["CROPS"])})
