"""The facev3 command line: embed folders of photos, compare two photos, serve the HTTP API, export
the models, and run a local tritonserver. Each command lives in its own module with
`add_parser(commands)` and `run(args) -> exit status`."""

import argparse

from facev3.cli import compare, embed, models, serve, triton

COMMANDS = (embed, compare, serve, models, triton)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facev3", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(commands).set_defaults(run=command.run)
    args = parser.parse_args(argv)
    return args.run(args)
