"""The model repository in triton-infer-custom/models_serving: configs and model.py shims are
committed; the ONNX files are generated from the wheels into the version directories."""

import shutil
from pathlib import Path

from facev3.models import onnx_cleaning, sources

# Repository model -> the cleaned ONNX file its config's MODEL_FILE names.
ONNX_FILES = {"yunet": sources.YUNET, "sface": sources.SFACE}


def prepare_repository(repository: Path) -> None:
    """Writes each python-ORT model's cleaned ONNX file into its version directory."""
    import onnx

    for model, source in ONNX_FILES.items():
        onnx.save(onnx_cleaning.clean_model(source), str(repository / model / "1" / f"{source.name}.onnx"))


def copy_repository(source: Path, destination: Path) -> Path:
    """A prepared copy of the repository (tests and local runs keep the checkout clean)."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("*.onnx", "__pycache__"))
    prepare_repository(destination)
    return destination
