"""Runs one ONNX file on onnxruntime (CPU). Config parameters: MODEL_FILE (relative to the
version directory), INTRA_OP_THREADS (default 1). Tensor names are the ONNX graph's. With
max_batch_size > 0 the requests Triton's dynamic batcher gathers are run as one batch."""

import itertools
from pathlib import Path

import numpy as np

from facev3.tritonserver.python_models._triton import config_of, each_request, failed, inputs, parameters, respond


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        import onnxruntime as ort

        config = config_of(args)
        params = parameters(config)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(params.get("INTRA_OP_THREADS", "1"))
        options.inter_op_num_threads = 1
        path = Path(args["model_repository"]) / args["model_version"] / params["MODEL_FILE"]
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i["name"] for i in config["input"]]
        self.output_names = [o["name"] for o in config["output"]]
        self.batched = config.get("max_batch_size", 0) > 0

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds), strict=True))

    def execute(self, requests: list) -> list:
        if not self.batched or len(requests) == 1:
            return each_request(requests, lambda request: self._run(inputs(request, self.input_names)))
        try:
            feeds = [inputs(request, self.input_names) for request in requests]
            sizes = [len(feed[self.input_names[0]]) for feed in feeds]
            joined = self._run({name: np.concatenate([f[name] for f in feeds]) for name in self.input_names})
        except Exception as error:
            return [failed(error) for _ in requests]
        bounds = np.cumsum([0, *sizes])
        return [respond({k: v[a:b] for k, v in joined.items()}) for a, b in itertools.pairwise(bounds)]

    def finalize(self) -> None:
        self.session = None
