"""Deployment files: the compose file validated by docker-compose, .env.example read by the
service's own settings loader, and the images' essentials."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from facev3.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose (Debian 1.29) is not installed; .ci/run installs it"
)
def test_compose_file_is_valid_for_docker_compose():
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_compose_wires_api_to_a_healthy_gpu_triton_on_the_internal_network():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    api, triton = services["api"], services["triton"]
    assert api["depends_on"]["triton"]["condition"] == "service_healthy"
    assert api["environment"]["TRITON_URL"] == "triton:8001"
    assert "ports" not in triton and triton["expose"] == ["8001"]
    assert triton["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "healthcheck" in api and "healthcheck" in triton
    assert triton["volumes"] == ["./build/models_serving_gpu:/models:ro"]


def test_the_compose_healthcheck_calls_a_route_open_without_a_key():
    api = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["api"]
    probed = api["healthcheck"]["test"][-1].split("http://127.0.0.1:8000")[1].split("'")[0]
    assert probed == "/readyz" and probed in Settings().open_paths


def test_env_example_lists_every_setting_at_its_default():
    text = (ROOT / ".env.example").read_text()
    assert load_settings({}, ROOT / ".env.example") == Settings()
    from facev3.config import ENV_NAMES

    assert all(f"{name}=" in text for name in ENV_NAMES.values())


def test_api_image_runs_as_a_non_root_user_on_port_8000_with_a_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER facev3" in dockerfile and "EXPOSE 8000" in dockerfile and "HEALTHCHECK" in dockerfile
    assert dockerfile.count("FROM ") == 2  # build stage + runtime stage
