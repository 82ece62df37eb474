"""The facev3 command line: embed folders of photos, compare two photos, evaluate and calibrate
models, keep galleries in Milvus, serve the HTTP API, export the models, and run a local
tritonserver. Each command lives in its own module with
`add_parser(commands)` and `run(args) -> exit status`."""

import argparse
import sys

from facev3.cli import calibrate, compare, embed, evaluate, gallery, models, serve, triton
from facev3.config import SettingsError
from facev3.core.errors import BackendUnavailable, ModelUnavailable
from facev3.evaluation.labelled import LabelledSetError
from facev3.gallery.errors import GalleryError
from facev3.models.manifest import ManifestError
from facev3.tritonserver.launcher import TritonStartError

USER_MISTAKES = (
    SettingsError,
    ManifestError,
    LabelledSetError,
    ModelUnavailable,
    BackendUnavailable,
    TritonStartError,
    GalleryError,
    OSError,
)

COMMANDS = (embed, compare, evaluate, calibrate, serve, models, triton, gallery)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facev3", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(commands).set_defaults(run=command.run)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except USER_MISTAKES as error:
        # A setting, a model, a path or a server the user named is wrong: one line, no traceback.
        print(f"facev3 {args.command}: {getattr(error, 'message', None) or error}", file=sys.stderr)
        return 2
