"""Triton model repositories for tests and benchmarks, generated like `facev3 triton repo` does."""

from pathlib import Path

from facev3.models import registry
from facev3.tritonserver.repository import write_repository

ROOT = Path(__file__).resolve().parents[2]
TRITON_ENV = ROOT / ".venv-triton"


def repository(out: Path, detector: str | None = None, embedder: str | None = None, **options) -> Path:
    """The repository for a detector and an embedder (built-in names or manifest paths; None: the
    defaults, YuNet and SFace)."""
    return write_repository(
        out, registry.resolve(detector, "detector"), registry.resolve(embedder, "embedder"), **options
    )
