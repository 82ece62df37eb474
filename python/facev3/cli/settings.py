"""Settings for commands that run the pipeline: the environment and .env, overridden by flags."""

import argparse
from dataclasses import replace

from facev3.config import Settings, choices, load_settings

# flag -> the setting it overrides
FLAGS = {
    "backend": "default FACEV3_BACKEND (local)",
    "detector": "built-in name or manifest path; default FACEV3_DETECTOR (the backend's own)",
    "embedder": "built-in name or manifest path; default FACEV3_EMBEDDER (the backend's own)",
    "triton_url": "host:port of Triton's gRPC (triton backend); default TRITON_URL",
    "threads": "onnxruntime threads (local backend); default FACEV3_THREADS",
}


def add_backend_flags(parser: argparse.ArgumentParser) -> None:
    for name, help_text in FLAGS.items():
        flag = "--" + name.replace("_", "-")
        kind = int if name == "threads" else str
        parser.add_argument(flag, type=kind, choices=choices(name) or None, help=help_text)


def settings_from(args: argparse.Namespace) -> Settings:
    flags = {name: getattr(args, name) for name in FLAGS}
    return replace(load_settings(), **{name: value for name, value in flags.items() if value is not None})
