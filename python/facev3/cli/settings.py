"""Settings for commands that run the pipeline: the environment and .env, overridden by flags."""

import argparse
from dataclasses import replace

from facev3.config import Settings, choices, load_settings
from facev3.core import detection


def add_backend_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=choices("backend"), help="default FACEV3_BACKEND (local)")
    parser.add_argument(
        "--detector", choices=list(detection.DETECTORS), help="default FACEV3_DETECTOR (the backend's own)"
    )
    parser.add_argument("--triton-url", help="host:port of Triton's gRPC (triton backend); default TRITON_URL")
    parser.add_argument("--threads", type=int, help="onnxruntime threads (local backend); default FACEV3_THREADS")


def settings_from(args: argparse.Namespace) -> Settings:
    flags = {"backend": args.backend, "detector": args.detector, "triton_url": args.triton_url, "threads": args.threads}
    return replace(load_settings(), **{name: value for name, value in flags.items() if value is not None})
