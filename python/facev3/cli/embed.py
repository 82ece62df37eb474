"""facev3 embed: detect, align and embed every face of photos or folders into JSON lines or .npy."""

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson

from facev3.cli.settings import add_backend_flags, settings_from
from facev3.core.pipeline import ROTATIONS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def add_parser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser("embed", help="detect, align and embed every face of photos or folders")
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument(
        "--out", type=Path, required=True, help="FILE.jsonl (one line per photo) or FILE.npy (+ FILE.index.jsonl)"
    )
    parser.add_argument("--mirror", action="store_true", help="fuse each face with its mirror image")
    parser.add_argument("--det-threshold", type=float, default=None)
    parser.add_argument("--min-quality", type=float, default=0.0, help="drop faces of lower quality (0-1)")
    parser.add_argument(
        "--rotations",
        choices=ROTATIONS,
        default="fallback",
        help="detect on the photo turned by quarter turns: when upright finds no clear face, always, never",
    )
    add_backend_flags(parser)
    return parser


def photos(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield path


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from facev3 import bootstrap
    from facev3.api.responses import error_payload, face_payload
    from facev3.core.pipeline import EmbedOptions

    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    if not args.out.parent.is_dir():
        raise FileNotFoundError(f"the folder of --out does not exist: {args.out.parent}")
    pipeline = bootstrap.build_pipeline(settings_from(args))
    options = EmbedOptions(
        det_threshold=args.det_threshold, mirror=args.mirror, min_quality=args.min_quality, rotations=args.rotations
    )
    found = list(photos(args.paths))
    as_npy = args.out.suffix == ".npy"
    index_path = args.out.with_suffix(".index.jsonl") if as_npy else args.out
    vectors, failed, faces, model = [], 0, 0, pipeline.backend.embedder.tag
    try:
        with index_path.open("wb") as index:
            for path in tqdm(found, unit="photo", disable=len(found) < 20, file=sys.stderr):
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    record = {"path": str(path), "error": {"code": "unreadable", "message": str(exc)}}
                else:
                    (result,), _ = pipeline.run([data], options)
                    record = {"path": str(path), "model": model, "width": result.width, "height": result.height}
                    if result.error is not None:
                        record["error"] = error_payload(result.error)
                    else:
                        faces += len(result.faces)
                        record["faces"] = [face_payload(f, embedding=not as_npy) for f in result.faces]
                        if as_npy:
                            for face_record, face in zip(record["faces"], result.faces, strict=True):
                                face_record["row"] = len(vectors)
                                vectors.append(face.embedding)
                if "error" in record:
                    failed += 1
                    print(f"{path}: {record['error']['code']}: {record['error']['message']}", file=sys.stderr)
                index.write(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
        if as_npy:
            size = pipeline.backend.embedder.embedding_size
            np.save(args.out, np.array(vectors, np.float32).reshape(len(vectors), size))
    finally:
        pipeline.backend.close()
    print(f"{len(found) - failed} of {len(found)} photos, {faces} faces embedded -> {args.out}", file=sys.stderr)
    return 0 if faces else 1  # a run that embedded nothing (every input failed, or no face) is a failure
