"""Shared-memory slots for Triton requests: regions created and registered once per process,
reused by one request at a time, unregistered and destroyed on close.

Each slot is one input and one output region sized for a full batch. A request takes a slot,
writes its input into `slot.input` (faces are aligned straight into it), and reads its output (a
copy: the next request overwrites the region). After a server restart the server no longer knows
the regions: `mark_stale()` makes the next `acquire()` register them again. Two kinds, with
tritonclient's utilities:
  system  POSIX shared memory on the host; `slot.input` is a numpy view of the region itself;
  cuda    device memory (tritonclient[cuda], needs cuda-python and a GPU); `slot.input` is a host
          array copied to the device in `upload`. Imported only when asked for, so CPU machines
          never load it.
"""

import queue
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from facev3.core.errors import BackendUnavailable

UNREGISTER_RETRIES = 20  # "region in use" right after a request clears within milliseconds


class SystemRegions:
    def __init__(self, client) -> None:
        from tritonclient.utils import shared_memory

        self._client, self._shm = client, shared_memory

    def create(self, name: str, size: int):
        return self._shm.create_shared_memory_region(name, f"/{name}", size)

    def register(self, name: str, handle, size: int) -> None:
        self._client.register_system_shared_memory(name, f"/{name}", size)

    def unregister(self, name: str) -> None:
        self._client.unregister_system_shared_memory(name)

    def input_array(self, handle, shape: tuple[int, ...], dtype) -> np.ndarray:
        return self._shm.get_contents_as_numpy(handle, dtype, shape)  # the region itself

    def upload(self, handle, array: np.ndarray) -> None:
        pass  # written in place

    def read(self, handle, shape: tuple[int, ...], dtype) -> np.ndarray:
        return self._shm.get_contents_as_numpy(handle, dtype, shape).copy()

    def destroy(self, handle) -> None:
        self._shm.destroy_shared_memory_region(handle)


class CudaRegions:
    def __init__(self, client, device_id: int = 0) -> None:
        try:
            from tritonclient.utils import cuda_shared_memory
        except (ImportError, RuntimeError) as error:
            raise RuntimeError(f"TRITON_SHM=cuda needs a GPU and tritonclient[cuda] (cuda-python): {error}") from None

        self._client, self._shm, self._device = client, cuda_shared_memory, device_id

    def create(self, name: str, size: int):
        return self._shm.create_shared_memory_region(name, size, self._device)

    def register(self, name: str, handle, size: int) -> None:
        self._client.register_cuda_shared_memory(name, self._shm.get_raw_handle(handle), self._device, size)

    def unregister(self, name: str) -> None:
        self._client.unregister_cuda_shared_memory(name)

    def input_array(self, handle, shape: tuple[int, ...], dtype) -> np.ndarray:
        return np.empty(shape, dtype)  # host side; `upload` copies it to the device

    def upload(self, handle, array: np.ndarray) -> None:
        self._shm.set_shared_memory_region(handle, [np.ascontiguousarray(array)])

    def read(self, handle, shape: tuple[int, ...], dtype) -> np.ndarray:
        return self._shm.get_contents_as_numpy(handle, dtype, shape)

    def destroy(self, handle) -> None:
        self._shm.destroy_shared_memory_region(handle)


ShmKind = Literal["system", "cuda", "none"]  # TRITON_SHM; "none" sends plain gRPC tensors
SHM_KINDS = get_args(ShmKind)
REGION_KINDS = {"system": SystemRegions, "cuda": CudaRegions}


@dataclass
class Slot:
    input_name: str
    output_name: str
    input_handle: object
    output_handle: object
    regions: SystemRegions | CudaRegions
    input: np.ndarray | None  # full-batch input, written by the caller

    def upload(self, count: int) -> None:
        """Makes input[:count] visible to the server."""
        self.regions.upload(self.input_handle, self.input[:count])

    def read_output(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        return self.regions.read(self.output_handle, shape, dtype)


class ShmPool:
    def __init__(
        self, client, kind: str, slots: int, input_shape: tuple[int, ...], input_dtype, output_bytes: int
    ) -> None:
        self._regions = REGION_KINDS[kind](client)
        input_bytes = int(np.prod(input_shape)) * np.dtype(input_dtype).itemsize
        self._sizes = {"in": input_bytes, "out": output_bytes}
        tag = uuid.uuid4().hex[:10]
        self._free: queue.Queue[Slot] = queue.Queue()
        self._all: list[Slot] = []
        self._lock = threading.Lock()
        self._registered = False
        for i in range(slots):
            names = (f"facev3_{tag}_{i}_in", f"facev3_{tag}_{i}_out")
            handles = (self._regions.create(names[0], input_bytes), self._regions.create(names[1], output_bytes))
            slot = Slot(
                *names, *handles, self._regions, self._regions.input_array(handles[0], input_shape, input_dtype)
            )
            self._all.append(slot)
            self._free.put(slot)

    def _names_and_handles(self):
        for slot in self._all:
            yield slot.input_name, slot.input_handle, self._sizes["in"]
            yield slot.output_name, slot.output_handle, self._sizes["out"]

    def register(self) -> None:
        """Registers every region with the server unless that is already done."""
        from tritonclient.utils import InferenceServerException

        with self._lock:
            if self._registered:
                return
            try:
                for name, handle, size in self._names_and_handles():
                    self._unregister(name)  # a stale registration from before a restart, if any
                    self._regions.register(name, handle, size)
            except InferenceServerException as error:
                raise BackendUnavailable(
                    f"Triton shared-memory registration failed: {error.message() or error}"
                ) from None
            self._registered = True

    def _unregister(self, name: str) -> None:
        from tritonclient.utils import InferenceServerException

        for _ in range(UNREGISTER_RETRIES):
            try:
                self._regions.unregister(name)
                return
            except InferenceServerException as error:
                if "in use" not in str(error):
                    return  # unknown region or server down: nothing registered to remove
                threading.Event().wait(0.005)

    def mark_stale(self) -> None:
        with self._lock:
            self._registered = False

    @contextmanager
    def acquire(self, timeout_s: float) -> Iterator[Slot]:
        try:
            slot = self._free.get(timeout=timeout_s)
        except queue.Empty:
            raise BackendUnavailable(f"no shared-memory slot free within {timeout_s:.0f} s") from None
        try:
            self.register()
            yield slot
        finally:
            self._free.put(slot)

    def close(self, timeout_s: float) -> None:
        """Waits up to timeout_s for slots still in use (a request finishing on another thread),
        then unregisters and destroys every region."""
        deadline = time.monotonic() + timeout_s
        for _ in self._all:
            try:
                self._free.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
        for slot in self._all:
            slot.input = None  # a live view of a region would stop it from being closed
        for name, handle, _ in self._names_and_handles():
            self._unregister(name)
            self._regions.destroy(handle)
        self._all.clear()
