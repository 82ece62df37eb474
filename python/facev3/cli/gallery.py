"""facev3 gallery: enrol faces into Milvus, search them, fix labels, group them into people.

    facev3 gallery add PHOTO_OR_DIR... [--label NAME]     detect, embed and insert every face
    facev3 gallery search PHOTO... [--top-k K] [--method M]  Milvus top-k, then the /v1/rerank scoring
    facev3 gallery label ID... --label NAME                 name faces (the merge / split fix)
    facev3 gallery remove --id ID | --photo P | --label L | --filter EXPR | --drop
    facev3 gallery stats                                    every gallery at the URI
    facev3 gallery cluster [--out DIR]                      group every face into people

--milvus URI: a milvus-lite file (default facev3-gallery.db, nothing to start) or
http://host:19530. One collection per embedding model (faces_<name>_<version>) unless
--collection names one; a collection never mixes two models' vectors.
"""

import argparse
import sys
import time
from pathlib import Path

import orjson

from facev3.cli.settings import add_backend_flags, settings_from

ACTIONS = ("add", "search", "label", "remove", "stats", "cluster")


def add_parser(commands) -> argparse.ArgumentParser:
    from facev3.gallery import store

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--milvus",
        default=store.DEFAULT_URI,
        metavar="URI",
        help=f"a milvus-lite file (default {store.DEFAULT_URI}) or http://host:19530",
    )
    common.add_argument("--collection", help="default: faces_<model name>_<version> of the embedder")
    add_backend_flags(common)

    parser = commands.add_parser("gallery", help="enrol faces into Milvus, search them, group them into people")
    actions = parser.add_subparsers(dest="action", required=True)

    add = actions.add_parser("add", parents=[common], help="detect, embed and insert every face of photos or folders")
    add.add_argument("paths", nargs="+", type=Path)
    add.add_argument("--label", default="", help="the person in these photos (default: unknown)")
    add.add_argument("--largest", action="store_true", help="only the largest face of each photo")
    add.add_argument("--min-quality", type=float, default=0.0, help="leave out faces of lower quality (0-1)")
    add.add_argument("--no-crops", action="store_true", help="keep no aligned crop (large galleries; see README)")
    add.add_argument("--again", action="store_true", help="enrol photos whose content is already in the gallery")
    add.add_argument("--index", choices=store.INDEX_KINDS, help="the vector index (default: the gallery's, auto)")

    search = actions.add_parser("search", parents=[common], help="the people in a photo: Milvus top-k, re-ranked")
    search.add_argument("paths", nargs="+", type=Path, metavar="PHOTO_OR_DIR")
    search.add_argument("--top-k", type=int, default=100, help="candidates from Milvus (default 100)")
    search.add_argument("--method", choices=("cosine", "kreciprocal", "qe"), default="cosine")
    search.add_argument("--threshold", type=float, default=None, help="calibrated score for a match (RERANK_THRESHOLD)")
    search.add_argument("--show", type=int, default=10, help="results printed per face (default 10)")
    search.add_argument("--all-faces", action="store_true", help="every face of the photo (default: the largest)")
    search.add_argument("--filter", default="", help="a Milvus filter, e.g. 'label != \"\"'")
    search.add_argument("--exclude-self", action="store_true", help="leave out faces of the query photo itself")

    label = actions.add_parser("label", parents=[common], help="name faces: one label = one person")
    label.add_argument("ids", nargs="+", type=int)
    label.add_argument("--label", required=True, help='the person\'s name ("" to clear)')

    remove = actions.add_parser("remove", parents=[common], help="delete faces (or the whole gallery)")
    remove.add_argument("--id", type=int, nargs="+", default=[], dest="ids")
    remove.add_argument("--photo", type=Path, nargs="+", default=[], dest="photos")
    remove.add_argument("--label", dest="remove_label")
    remove.add_argument("--filter", default="", help="a Milvus filter expression")
    remove.add_argument("--drop", action="store_true", help="drop the whole collection")

    actions.add_parser("stats", parents=[common], help="faces, photos, labels and index of each gallery")

    group = actions.add_parser("cluster", parents=[common], help="group every face into people")
    group.add_argument("--out", type=Path, help="write HTML contact sheets (index.html + one page a person) here")
    group.add_argument("--graph", choices=("native", "milvus"), default="native", help="neighbour graph source")
    group.add_argument("--neighbours", type=int, default=20, help="edges kept per face (default 20)")
    group.add_argument("--threshold", type=float, default=None, help="calibrated score for an edge (RERANK_THRESHOLD)")
    group.add_argument("--min-quality", type=float, default=0.0, help="leave faces of lower quality out")
    group.add_argument("--seed", type=int, default=0)
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def run(args: argparse.Namespace) -> int:
    from facev3.gallery import GalleryError

    try:
        return ACTION_RUNNERS[args.action](args)
    except GalleryError as error:
        print(f"facev3 gallery {args.action}: {error.message}", file=sys.stderr)
        return 2


def _embedder(args):
    """The embedder's spec from its manifest (no weights loaded)."""
    from facev3.models import registry

    return registry.resolve(settings_from(args).embedder, "embedder").spec


def _open(args, spec, create: bool = False, index: str = "auto"):
    from facev3.gallery.store import GalleryStore

    return GalleryStore.open(args.milvus, spec.tag, spec.embedding_size, args.collection, create=create, index=index)


def _print(record: dict) -> None:
    sys.stdout.write(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")


def _quality(face) -> float | None:
    """Face.quality (a Quality with .score, or a number) where the pipeline gives one."""
    value = getattr(face, "quality", None)
    value = getattr(value, "score", value)
    return None if value is None else float(value)


def run_add(args) -> int:
    from tqdm import tqdm

    from facev3 import bootstrap
    from facev3.api.responses import png_base64
    from facev3.cli.embed import photos
    from facev3.core.pipeline import EmbedOptions
    from facev3.gallery.store import FaceRecord, photo_sha256, resolved

    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    found = list(photos(args.paths))
    pipeline = bootstrap.build_pipeline(settings_from(args))
    spec = pipeline.backend.embedder
    options = EmbedOptions(
        return_aligned=not args.no_crops, max_faces=1 if args.largest else None, min_quality=args.min_quality
    )
    added = skipped = failed = enrolled_photos = 0
    try:
        with _open(args, spec, create=True, index=args.index or "auto") as gallery:
            pending: list[FaceRecord] = []
            seen: set[str] = set()
            for path in tqdm(found, unit="photo", disable=len(found) < 20, file=sys.stderr):
                try:
                    data = path.read_bytes()
                except OSError as error:
                    print(f"{path}: unreadable: {error}", file=sys.stderr)
                    failed += 1
                    continue
                digest = photo_sha256(data)
                if not args.again and (digest in seen or gallery.enrolled(digest)):
                    skipped += 1
                    continue
                seen.add(digest)
                (result,), _ = pipeline.run([data], options)
                if result.error is not None:
                    print(f"{path}: {result.error.code}: {result.error.message}", file=sys.stderr)
                    failed += 1
                    continue
                enrolled_photos += bool(result.faces)
                for face in result.faces:
                    pending.append(
                        FaceRecord(
                            vector=face.embedding,
                            photo=resolved(path),
                            photo_sha256=digest,
                            box=face.box.tolist(),
                            landmarks=face.landmarks.ravel().tolist(),
                            det_score=face.score,
                            quality=_quality(face),
                            label=args.label,
                            crop=png_base64(face.aligned) if face.aligned is not None else "",
                        )
                    )
                if len(pending) >= 256:
                    added += len(gallery.insert(pending, spec.tag))
                    pending = []
            added += len(gallery.insert(pending, spec.tag)) if pending else 0
            gallery.flush()
            rebuilt = gallery.ensure_index(args.index)
            if rebuilt is not None:
                print(f"the vector index is now {rebuilt.describe()}", file=sys.stderr)
            total, name = gallery.count(), gallery.name
    finally:
        pipeline.backend.close()
    print(
        f"{added} faces from {enrolled_photos} photos added to {name} ({total} faces) at {args.milvus}"
        + (f"; {skipped} photos already enrolled (--again to add them again)" if skipped else "")
        + (f"; {failed} photos failed" if failed else ""),
        file=sys.stderr,
    )
    return 0 if added or skipped else 1


def run_search(args) -> int:
    import numpy as np

    from facev3 import bootstrap
    from facev3.cli.embed import photos
    from facev3.gallery.errors import GalleryError
    from facev3.gallery.store import literal, photo_sha256

    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    if not 1 <= args.top_k <= 16384:
        raise GalleryError(f"--top-k must be in 1..16384 (Milvus' limit), got {args.top_k}")
    settings = settings_from(args)
    threshold = settings.rerank_threshold if args.threshold is None else args.threshold
    pipeline = bootstrap.build_pipeline(settings)
    failed = 0
    try:
        spec = pipeline.backend.embedder
        calibration = bootstrap.calibration(spec)
        with _open(args, spec) as gallery:
            index = gallery.index()
            for path in photos(args.paths):
                data = path.read_bytes()
                (result,), _ = pipeline.run([data])
                if result.error is not None or not result.faces:
                    reason = f"{result.error.code}: {result.error.message}" if result.error else "no face found"
                    print(f"{path}: {reason}", file=sys.stderr)
                    failed += 1
                    continue
                faces = sorted(result.faces, key=lambda f: -f.area)
                faces = faces if args.all_faces else faces[:1]
                expression = args.filter
                if args.exclude_self:
                    own = f"photo_sha256 != {literal(photo_sha256(data))}"
                    expression = f"({expression}) and {own}" if expression else own
                found = gallery.search(np.stack([f.embedding for f in faces]), spec.tag, args.top_k, expression, index)
                for face, hits in zip(faces, found, strict=True):
                    _print(_ranked(path, face, hits, spec.tag, calibration, args, threshold))
    finally:
        pipeline.backend.close()
    return 1 if failed else 0


def _ranked(path: Path, face, hits, tag: str, calibration, args, threshold: float) -> dict:
    """One query face's Milvus candidates through scoring.rerank, the call /v1/rerank makes."""
    from facev3.gallery.search import rank, result_record
    from facev3.gallery.store import resolved

    record = {
        "photo": resolved(path),
        "face": {"box": face.box.tolist(), "score": face.score, "quality": _quality(face)},
        "model": tag,
        "calibration": calibration.name,
        "method": args.method,
        "threshold": threshold,
        "candidates": len(hits),
        "results": [],
    }
    started = time.perf_counter()
    ranked = rank(face.embedding, hits, calibration, method=args.method, threshold=threshold, show=args.show)
    if hits:
        record["rerank_ms"] = round((time.perf_counter() - started) * 1e3, 3)
    record["results"] = [result_record(r) for r in ranked]
    return record


def run_label(args) -> int:
    with _open(args, _embedder(args)) if not args.collection else _open_named(args) as gallery:
        changed = gallery.relabel(args.ids, args.label)
    missing = len(set(args.ids)) - changed
    print(
        f"{changed} faces labelled {args.label!r}" + (f"; {missing} ids not in the gallery" if missing else ""),
        file=sys.stderr,
    )
    return 0 if changed else 1


def _open_named(args):
    from facev3.gallery.store import GalleryStore

    return GalleryStore.open_existing(args.milvus, args.collection)


def run_remove(args) -> int:
    from facev3.gallery.errors import GalleryError
    from facev3.gallery.store import literal, resolved

    parts = []
    if args.ids:
        parts.append(f"id in {list(args.ids)}")
    if args.photos:
        parts.append(f"photo in [{', '.join(literal(resolved(p)) for p in args.photos)}]")
    if args.remove_label is not None:
        parts.append(f"label == {literal(args.remove_label)}")
    if args.filter:
        parts.append(f"({args.filter})")
    if not parts and not args.drop:
        raise GalleryError("say what to remove: --id, --photo, --label, --filter or --drop")
    with _open(args, _embedder(args)) if not args.collection else _open_named(args) as gallery:
        if args.drop:
            count = gallery.count()
            gallery.drop()
            print(f"dropped {gallery.name} ({count} faces)", file=sys.stderr)
            return 0
        count = gallery.delete(" or ".join(parts))
    print(f"{count} faces removed", file=sys.stderr)
    return 0 if count else 1


def run_stats(args) -> int:
    from facev3.gallery.errors import NotAGallery
    from facev3.gallery.store import GalleryStore, connect, release

    if args.collection:
        names = [args.collection]
    else:
        client = connect(args.milvus, create=False)
        try:
            names = sorted(client.list_collections())
        finally:
            release(client, args.milvus)
    shown = 0
    for name in names:
        try:
            gallery = GalleryStore.open_existing(args.milvus, name)
        except NotAGallery:
            continue
        with gallery:
            _print(stats(gallery))
            shown += 1
    if not shown:
        print(f"no gallery at {args.milvus}", file=sys.stderr)
        return 1
    return 0


def stats(gallery) -> dict:
    columns = gallery.columns(["photo_sha256", "label", "quality"])
    labels: dict[str, int] = {}
    for label in columns["label"]:
        labels[label] = labels.get(label, 0) + 1
    qualities = sorted(q for q in columns["quality"] if q >= 0)
    index = gallery.index()
    return {
        "uri": gallery.uri,
        "collection": gallery.name,
        "model": gallery.model_tag,
        "dim": gallery.dim,
        "faces": len(columns["id"]),
        "photos": len(set(columns["photo_sha256"])),
        "people_labelled": len([k for k in labels if k]),
        "unlabelled_faces": labels.pop("", 0),
        "labels": dict(sorted(labels.items())),
        "quality": {
            "unknown": len(columns["quality"]) - len(qualities),
            "min": qualities[0] if qualities else None,
            "median": qualities[len(qualities) // 2] if qualities else None,
        },
        "index": {"type": index.kind, **index.build, **index.search},
        "index_policy": gallery.policy(),
    }


def run_cluster(args) -> int:
    import numpy as np

    from facev3 import bootstrap
    from facev3.gallery import cluster

    spec = _embedder(args)
    calibration = bootstrap.calibration(spec)
    threshold = settings_from(args).rerank_threshold if args.threshold is None else args.threshold
    started = time.perf_counter()
    with _open(args, spec) as gallery:
        expression = f"quality < 0 or quality >= {float(args.min_quality)}" if args.min_quality > 0 else ""
        columns = gallery.columns(["vector", "label"], expression)
        order = np.argsort(np.array(columns["id"], np.int64), kind="stable")  # results independent of Milvus' order
        ids = np.array(columns["id"], np.int64)[order]
        labels = [columns["label"][i] for i in order]
        vectors = np.array([columns["vector"][i] for i in order], np.float32).reshape(len(ids), spec.embedding_size)
        if args.graph == "native":
            graph = cluster.knn_graph(vectors, calibration, threshold, args.neighbours)
        else:
            graph = _milvus_graph(gallery, spec.tag, ids, vectors, calibration, threshold, args.neighbours)
        assignment = cluster.cluster(graph, labels, seed=args.seed)
        persons = cluster.people(assignment, labels)
        elapsed = time.perf_counter() - started
        summary = {
            "collection": gallery.name,
            "model": spec.tag,
            "faces": len(ids),
            "people": len(persons),
            "labelled_people": sum(p.labelled for p in persons),
            "single_faces": sum(len(p.members) == 1 for p in persons),
            "edge_cosine": round(cluster.match_cosine(calibration, threshold), 4),
            "edges": graph.edges,
            "graph": args.graph,
            "seconds": round(elapsed, 3),
        }
        if args.out:
            _sheets(args.out, gallery, persons, ids, vectors, summary, cluster.match_cosine(calibration, threshold))
    _print(
        {
            **summary,
            "persons": [
                {"name": p.name, "labelled": p.labelled, "size": len(p.members), "ids": ids[p.members].tolist()}
                for p in persons
            ],
        }
    )
    print(
        f"{summary['faces']} faces -> {summary['people']} people ({summary['single_faces']} seen once)"
        + (f"; contact sheets in {args.out / 'index.html'}" if args.out else ""),
        file=sys.stderr,
    )
    return 0


def _milvus_graph(gallery, tag, ids, vectors, calibration, threshold, neighbours):
    from facev3.gallery import cluster

    position = {int(i): n for n, i in enumerate(ids.tolist())}
    min_cosine = cluster.match_cosine(calibration, threshold)
    index = gallery.index()
    pairs = []
    for start in range(0, len(ids), 256):
        found = gallery.neighbours(vectors[start : start + 256], tag, min_cosine, neighbours + 1, index)
        for offset, hits in enumerate(found):
            pairs.extend((start + offset, position[i], c) for i, c in hits if i in position)
    return cluster.graph_from_pairs(len(ids), pairs, calibration, threshold)


def _sheets(folder, gallery, persons, ids, vectors, summary, check_below) -> None:
    from facev3.gallery import cluster, report

    sheets = []
    for person in persons:
        member_ids = ids[person.members].tolist()
        rows = gallery.get(member_ids, ["photo", "det_score", "quality", "crop", "landmarks"])
        centre = cluster.centre_cosines(vectors, person.members)
        tiles = []
        for face_id, cosine in zip(member_ids, centre.tolist(), strict=True):
            row = rows.get(face_id, {})
            crop = row.get("crop") or (report.crop_from_photo(row["photo"], row["landmarks"]) if row else "")
            quality = row.get("quality", -1.0)
            tiles.append(
                report.Tile(
                    face_id,
                    row.get("photo", ""),
                    float(row.get("det_score", 0.0)),
                    None if quality < 0 else quality,
                    cosine,
                    crop,
                )
            )
        sheets.append(report.Sheet(person.name, person.labelled, tiles))
    report.write(folder, sheets, summary, check_below)


ACTION_RUNNERS = {
    "add": run_add,
    "search": run_search,
    "label": run_label,
    "remove": run_remove,
    "stats": run_stats,
    "cluster": run_cluster,
}
