"""facev3 calibrate: fit an embedder's cosine -> score calibration on labelled photos and write it
into its manifest, which the service then uses."""

import argparse
from pathlib import Path

from facev3.cli.evaluate import add_labelled_arguments
from facev3.cli.settings import settings_from


def add_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser("calibrate", help="fit the embedder's calibration on labelled photos")
    add_labelled_arguments(parser)
    parser.add_argument(
        "--write", type=Path, required=True, help="the embedder's manifest to write the fitted [calibration] into"
    )
    parser.add_argument("--name", help="the calibration's name (default NAME@VERSION/LABELLED-FOLDER)")
    return parser


def run(args: argparse.Namespace) -> int:
    from facev3 import bootstrap
    from facev3.evaluation.calibration import fit_platt
    from facev3.evaluation.labelled import load_labelled
    from facev3.evaluation.scoring import score_pairs
    from facev3.models.manifest import ManifestError, load_manifest, write_calibration

    written = load_manifest(args.write)  # it must describe the embedder that is measured
    pair_set = load_labelled(args.labelled, args.pairs)
    pipeline = bootstrap.build_pipeline(settings_from(args))
    try:
        embedder = pipeline.backend.embedder
        if written.role != "embedder" or written.tag != embedder.tag:
            raise ManifestError(
                f"{args.write} describes {written.tag}, but the embedder that runs is {embedder.tag}: "
                "pass it with --embedder"
            )
        scored = score_pairs(pipeline, pair_set)
    finally:
        pipeline.backend.close()
    name = args.name or f"{embedder.tag}/{args.labelled.resolve().name}"
    calibration = fit_platt(scored.cosines, scored.same, name)
    write_calibration(args.write, calibration)
    accuracy = float(((scored.cosines >= calibration.threshold) == scored.same).mean())
    print(
        f"{embedder.tag}: {int(scored.same.sum())} same / {int((~scored.same).sum())} different pairs "
        f"({scored.skipped} skipped: a photo without a face); operating point cosine {calibration.threshold:.4f}, "
        f"scale {calibration.scale:.3f}, accuracy there {accuracy:.2%} -> [calibration] of {args.write}"
    )
    return 0
