"""facev3 evaluate: how well the models verify faces on a labelled set, with an HTML report."""

import argparse
import sys
from pathlib import Path

import orjson

from facev3.cli.settings import add_backend_flags, settings_from

LABELLED = (
    "a folder with one sub-folder per identity, a folder with a MANIFEST.json, or LFW's pairs file (with --pairs)"
)


def add_labelled_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("labelled", type=Path, help=LABELLED)
    parser.add_argument("--pairs", type=Path, help="LFW's pairs.txt (images under LABELLED/NAME/NAME_0001.jpg)")
    add_backend_flags(parser)


def add_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser("evaluate", help="verification accuracy on labelled photos, and an HTML report")
    add_labelled_arguments(parser)
    parser.add_argument("--report", type=Path, default=Path("evaluation.html"), help="the HTML report to write")
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from facev3 import bootstrap
    from facev3.evaluation.labelled import load_labelled
    from facev3.evaluation.metrics import evaluate
    from facev3.evaluation.report import write_html
    from facev3.evaluation.scoring import score_pairs

    pair_set = load_labelled(args.labelled, args.pairs)
    pipeline = bootstrap.build_pipeline(settings_from(args))
    try:
        embedder = pipeline.backend.embedder
        scored = score_pairs(pipeline, pair_set)
    finally:
        pipeline.backend.close()
    if embedder.calibration is None:
        print(f"{embedder.tag} has no calibration: fit one with `facev3 calibrate`", file=sys.stderr)
        return 2
    evaluation = evaluate(
        scored.cosines,
        scored.same,
        embedder.calibration.threshold,
        scored.coverage,
        scored.failed,
        pairs_skipped=scored.skipped,
    )
    write_html(evaluation, args.report, f"{embedder.tag} on {args.labelled}")
    if args.json:
        args.json.write_bytes(orjson.dumps(evaluation.to_dict(), option=orjson.OPT_INDENT_2))
    summary = evaluation.to_dict()
    point = summary["at_threshold"]
    print(
        f"{embedder.tag}: {len(pair_set.photos)} photos, coverage {scored.coverage:.1%}, "
        f"{summary['pairs']['same']} same / {summary['pairs']['different']} different pairs; "
        f"ROC AUC {summary['roc_auc']:.4f}, EER {summary['eer']:.2%}; at cosine {point['threshold']:.4f}: "
        f"accuracy {point['accuracy']:.2%}, TAR {point['tar']:.2%}, FAR {point['far']:.2%}"
    )
    for target in summary["tar_at_far"]:
        value = f"TAR {target['tar']:.2%}" if target["measurable"] else f"not measurable ({target['reason']})"
        print(f"  at FAR {target['far_target']:g}: {value}")
    print(f"report: {args.report}")
    return 0
