"""facev3 compare: cosine, calibrated score and decision for the largest face of two photos."""

import argparse
import sys
from pathlib import Path

import orjson

from facev3.cli.settings import add_backend_flags, settings_from


def add_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "compare", help="cosine, calibrated score and decision for the largest face of two photos"
    )
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    add_backend_flags(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from facev3 import bootstrap
    from facev3.core import scoring

    pipeline = bootstrap.build_pipeline(settings_from(args))
    try:
        results, _ = pipeline.run([args.a.read_bytes(), args.b.read_bytes()])
        calibration = bootstrap.calibration(pipeline.backend.embedder)
    finally:
        pipeline.backend.close()
    largest = []
    for path, result in zip((args.a, args.b), results, strict=True):
        face = result.largest_face()
        if face is None:
            print(f"{path}: {result.error.message if result.error else 'no face found'}", file=sys.stderr)
            return 2
        largest.append(face.embedding)
    scored = scoring.rerank(largest[0], largest[1][None], calibration)
    print(
        orjson.dumps(
            {
                "cosine": float(scored.cosine[0]),
                "score": float(scored.score[0]),
                "match": bool(scored.match[0]),
                "calibration": calibration.name,
            }
        ).decode()
    )
    return 0
