"""facev3 models: the built-in models and their files."""

import argparse
from pathlib import Path


def add_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser("models", help="model manifests and files")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="the built-in models, their roles, licences and whether their files are here")
    export = actions.add_parser("export", help="write fixed, checked ONNX files (for Triton and TensorRT)")
    export.add_argument("directory", type=Path)
    export.add_argument(
        "--model",
        action="append",
        help="built-in name or manifest path (default: every built-in model whose file is installed); repeatable",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from facev3.models import files, registry

    if args.action == "list":
        for name in registry.BUILTIN:
            manifest = registry.load(name)
            state = "installed" if files.available(manifest) else f"not installed ({manifest.source.install})"
            print(f"{name}\t{manifest.role}\t{manifest.tag}\t{manifest.licence}\t{state}")
        return 0
    if args.model:
        manifests = [registry.load(name) for name in args.model]
    else:
        manifests = [m for m in map(registry.load, registry.BUILTIN) if files.available(m)]
    for path in files.export(manifests, args.directory):
        print(path)
    return 0
