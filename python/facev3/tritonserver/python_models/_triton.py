"""Helpers for the python-backend models: config parameters and request/response plumbing."""

import json

import numpy as np
import triton_python_backend_utils as pb_utils


def config_of(args: dict) -> dict:
    return json.loads(args["model_config"])


def parameters(config: dict) -> dict[str, str]:
    return {key: value["string_value"] for key, value in config.get("parameters", {}).items()}


def json_parameter(args: dict, key: str) -> dict:
    """A parameter holding JSON (the repository writer puts the model specs there)."""
    return json.loads(parameters(config_of(args))[key])


def inputs(request, names: list[str]) -> dict[str, np.ndarray]:
    return {name: pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in names}


def respond(outputs: dict[str, np.ndarray]):
    return pb_utils.InferenceResponse(
        output_tensors=[pb_utils.Tensor(k, np.ascontiguousarray(v)) for k, v in outputs.items()]
    )


def failed(error: Exception):
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"{type(error).__name__}: {error}"))


def each_request(requests, handle) -> list:
    """One response per request, in order; a failing request fails alone."""
    responses = []
    for request in requests:
        try:
            responses.append(respond(handle(request)))
        except Exception as error:
            responses.append(failed(error))
    return responses
