"""Shared-memory slots for Triton requests: regions created and registered once per process,
reused by one request at a time, unregistered and unlinked on close.

Each slot is one input and one output region sized for a full batch. A request takes a slot,
writes its input into the region's numpy view, and reads its output as a view (copied before
the slot is returned, since the next request overwrites it). After a server restart the server
no longer knows the regions: `mark_stale()` makes the next `acquire()` register them again.
"""

import queue
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

UNREGISTER_RETRIES = 20  # "region in use" right after a request clears within milliseconds


@dataclass
class Slot:
    input_name: str
    output_name: str
    input_handle: object
    output_handle: object
    input_bytes: int
    output_bytes: int

    def input_view(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        from tritonclient.utils import shared_memory as shm

        return shm.get_contents_as_numpy(self.input_handle, dtype, shape)

    def output_view(self, shape: tuple[int, ...], dtype, offset: int = 0) -> np.ndarray:
        from tritonclient.utils import shared_memory as shm

        return shm.get_contents_as_numpy(self.output_handle, dtype, shape, offset=offset)


class SystemShmPool:
    def __init__(self, client, slots: int, input_bytes: int, output_bytes: int) -> None:
        from tritonclient.utils import shared_memory as shm

        self._client = client
        self._tag = uuid.uuid4().hex[:10]
        self._free: queue.Queue[Slot] = queue.Queue()
        self._all: list[Slot] = []
        self._lock = threading.Lock()
        self._registered = False
        for i in range(slots):
            names = (f"facev3_{self._tag}_{i}_in", f"facev3_{self._tag}_{i}_out")
            slot = Slot(*names, shm.create_shared_memory_region(names[0], f"/{names[0]}", input_bytes),
                        shm.create_shared_memory_region(names[1], f"/{names[1]}", output_bytes), input_bytes, output_bytes)
            self._all.append(slot)
            self._free.put(slot)

    @property
    def region_keys(self) -> list[str]:
        return [name for s in self._all for name in (s.input_name, s.output_name)]

    def _register(self) -> None:
        with self._lock:
            if self._registered:
                return
            for slot in self._all:
                for name, size in ((slot.input_name, slot.input_bytes), (slot.output_name, slot.output_bytes)):
                    self._unregister(name)  # stale registration from before a restart, if any
                    self._client.register_system_shared_memory(name, f"/{name}", size)
            self._registered = True

    def _unregister(self, name: str) -> None:
        from tritonclient.utils import InferenceServerException

        for _ in range(UNREGISTER_RETRIES):
            try:
                self._client.unregister_system_shared_memory(name)
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
        slot = self._free.get(timeout=timeout_s)
        try:
            self._register()
            yield slot
        finally:
            self._free.put(slot)

    def close(self) -> None:
        from tritonclient.utils import shared_memory as shm

        for slot in self._all:
            for name in (slot.input_name, slot.output_name):
                self._unregister(name)
            shm.destroy_shared_memory_region(slot.input_handle)
            shm.destroy_shared_memory_region(slot.output_handle)
        self._all.clear()
