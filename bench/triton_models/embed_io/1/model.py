"""Benchmark-only: face_embed's inputs and outputs (CROPS uint8 (n, 112, 112, 3) -> EMBEDDING
float32 (n, 128)) with no network behind them, so a round trip measures the transport alone.
EMBEDDING[i, j] is byte 294 * j of crop i: every part of the input must have arrived."""

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests: list) -> list:
        responses = []
        for request in requests:
            crops = pb_utils.get_input_tensor_by_name(request, "CROPS").as_numpy()
            embedding = crops.reshape(len(crops), 128, -1)[:, :, 0].astype(np.float32)
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("EMBEDDING", embedding)]))
        return responses
