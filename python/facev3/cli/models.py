"""facev3 models: the model files."""

import argparse
from pathlib import Path


def add_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser("models", help="model files")
    actions = parser.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="write the cleaned ONNX files (for Triton and TensorRT)")
    export.add_argument("directory", type=Path)
    return parser


def run(args: argparse.Namespace) -> int:
    from facev3.models.onnx_cleaning import export_models

    for path in export_models(args.directory):
        print(path)
    return 0
