"""The CUDA shared-memory slots (TRITON_SHM=cuda) on a machine without a GPU: tritonclient's
cuda_shared_memory module is replaced by host memory whose functions accept exactly the
arguments of the real ones (read from tritonclient's source, which needs cuda-python to import),
and the client records what it was asked to register. This checks the slot logic and the calls;
the real run against Triton on a GPU is test_triton.py's cuda case."""

import ast
import inspect
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.utils

from facev3.backends.triton.shm import ShmPool

CUDA_SHM_SOURCE = Path(tritonclient.utils.__file__).parent / "cuda_shared_memory" / "__init__.py"
CROPS_SHAPE = (4, 112, 112, 3)
OUTPUT_BYTES = 4 * 128 * 4


def real_signatures() -> dict[str, inspect.Signature]:
    """The module's public functions, parsed rather than imported."""
    signatures = {}
    for node in ast.parse(CUDA_SHM_SOURCE.read_text()).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            args = node.args.args
            first_default = len(args) - len(node.args.defaults)
            signatures[node.name] = inspect.Signature(
                [
                    inspect.Parameter(
                        a.arg,
                        inspect.Parameter.POSITIONAL_OR_KEYWORD,
                        default=None if i >= first_default else inspect.Parameter.empty,
                    )
                    for i, a in enumerate(args)
                ]
            )
    return signatures


class HostCudaSharedMemory(types.ModuleType):
    """`tritonclient.utils.cuda_shared_memory` on host memory: each region is a bytearray."""

    def __init__(self) -> None:
        super().__init__("tritonclient.utils.cuda_shared_memory")
        self.signatures = real_signatures()
        self.memory: dict[str, bytearray] = {}
        self.destroyed: list[str] = []

    def _check(self, function: str, *args) -> inspect.BoundArguments:
        return self.signatures[function].bind(*args)  # TypeError if the real function would refuse them

    def create_shared_memory_region(self, *args):
        bound = self._check("create_shared_memory_region", *args).arguments
        self.memory[bound["triton_shm_name"]] = bytearray(bound["byte_size"])
        return bound["triton_shm_name"]  # the handle

    def get_raw_handle(self, *args):
        return f"ipc:{self._check('get_raw_handle', *args).arguments['cuda_shm_handle']}".encode()

    def set_shared_memory_region(self, *args):
        bound = self._check("set_shared_memory_region", *args).arguments
        data = b"".join(np.ascontiguousarray(a).tobytes() for a in bound["input_values"])
        self.memory[bound["cuda_shm_handle"]][: len(data)] = data

    def get_contents_as_numpy(self, *args):
        bound = self._check("get_contents_as_numpy", *args).arguments
        dtype, shape = np.dtype(bound["datatype"]), bound["shape"]
        return np.frombuffer(bytes(self.memory[bound["cuda_shm_handle"]]), dtype, int(np.prod(shape))).reshape(shape)

    def destroy_shared_memory_region(self, *args):
        self.destroyed.append(self._check("destroy_shared_memory_region", *args).arguments["cuda_shm_handle"])


class RecordingClient:
    """Registration calls, bound against the real gRPC client's methods."""

    def __init__(self) -> None:
        self.registered: dict[str, tuple] = {}
        self.unregistered: list[str] = []

    def register_cuda_shared_memory(self, *args):
        bound = (
            inspect.signature(grpcclient.InferenceServerClient.register_cuda_shared_memory).bind(self, *args).arguments
        )
        self.registered[bound["name"]] = (bound["raw_handle"], bound["device_id"], bound["byte_size"])

    def unregister_cuda_shared_memory(self, *args):
        name = (
            inspect.signature(grpcclient.InferenceServerClient.unregister_cuda_shared_memory)
            .bind(self, *args)
            .arguments["name"]
        )
        self.unregistered.append(name)


@pytest.fixture
def cuda(monkeypatch) -> HostCudaSharedMemory:
    module = HostCudaSharedMemory()
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(tritonclient.utils, "cuda_shared_memory", module, raising=False)
    return module


def test_cuda_slots_register_device_regions_and_send_only_the_crops_in_use(cuda):
    client = RecordingClient()
    pool = ShmPool(client, "cuda", 2, CROPS_SHAPE, np.uint8, OUTPUT_BYTES)
    crops = np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3), np.uint8)
    with pool.acquire(1.0) as slot:
        assert slot.input.shape == CROPS_SHAPE and slot.input.flags.writeable  # a host stage
        slot.input[:] = 7
        slot.input[:3] = crops
        slot.upload(3)
        region = cuda.memory[slot.input_name]
        assert bytes(region[: crops.nbytes]) == crops.tobytes() and not any(region[crops.nbytes :])
        embeddings = np.arange(3 * 128, dtype=np.float32).reshape(3, 128)
        cuda.memory[slot.output_name][: embeddings.nbytes] = embeddings.tobytes()  # as Triton writes it
        np.testing.assert_array_equal(slot.read_output((3, 128), np.float32), embeddings)
    assert set(client.registered) == set(cuda.memory)  # 2 slots x (input, output), once
    for name, (raw_handle, device, size) in client.registered.items():
        assert raw_handle == f"ipc:{name}".encode() and device == 0 and size == len(cuda.memory[name])
    before_close = len(client.unregistered)  # register() first clears stale registrations
    pool.close(1.0)
    assert sorted(client.unregistered[before_close:]) == sorted(cuda.memory) == sorted(cuda.destroyed)


def test_the_fake_refuses_what_the_real_functions_would(cuda):
    with pytest.raises(TypeError):
        cuda.create_shared_memory_region("x", 16)  # the real one also needs the device id
