"""The compute pools (facev3.threads): their threads run the configured nice levels below the
thread that made them, the server's offload pool and the embedded backend's take the setting,
and the setting is bounded."""

import os
import sys
import threading

import pytest

from facev3.api.handlers import offload_pool
from facev3.config import Settings, SettingsError, load_settings
from facev3.threads import compute_pool

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="nice is per thread on Linux only")


def niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def run_in(pool) -> int:
    with pool:
        return pool.submit(niceness).result()


@pytest.mark.parametrize("increment", [0, 3, 10])
def test_pool_threads_run_the_increment_below_their_creator(increment):
    assert run_in(compute_pool(1, "test", increment)) == min(19, niceness() + increment)


def test_the_increment_stops_at_the_lowest_priority():
    assert run_in(compute_pool(1, "test", 19)) == 19


def test_the_creating_thread_keeps_its_priority():
    before = niceness()
    run_in(compute_pool(2, "test", 10))
    assert niceness() == before


def test_the_servers_offload_pool_takes_the_setting():
    assert run_in(offload_pool(Settings(inference_nice=7))) == min(19, niceness() + 7)
    assert run_in(offload_pool(Settings())) == min(19, niceness() + Settings().inference_nice)


def test_the_embedded_backends_background_pool_takes_the_setting():
    from facev3.backends.local import LocalBackend
    from facev3.models import registry

    backend = LocalBackend(registry.load("yunet"), registry.load("sface"), runtime="onnxruntime", nice=5)
    try:
        assert backend._background.submit(niceness).result() == min(19, niceness() + 5)
    finally:
        backend.close()


@pytest.mark.parametrize("value", ["-1", "20"])
def test_the_setting_is_a_nice_increment(value):
    with pytest.raises(SettingsError, match="FACEV3_INFERENCE_NICE must be in"):
        load_settings({"FACEV3_INFERENCE_NICE": value})
