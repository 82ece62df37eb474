"""Gallery scale on milvus-lite: insert rate, search latency (top-100) with the added re-rank, and
the recall of the approximate index against exact search, at configurable sizes:

    .venv/bin/python -m bench.gallery_scale --sizes 100000 --out bench/results/gallery_scale.json

The vectors are synthetic around real ones: SFace embeddings of every face of the shared photos
give a mean and a covariance; identity centres are drawn from that Gaussian, and each identity's
faces scatter around its centre so that two faces of one identity have a cosine near 0.74, as
the labelled photos do (README, "Calibration"). Queries are new faces of enrolled identities.

Baseline: the exact top-100 in-process (native.cosine_scores over every vector, argpartition), no
database. Per size: insert every vector through GalleryStore.insert (the code `facev3 gallery add` runs,
1,000 rows a call, no crops) into a FLAT collection; time single-query top-100 searches on FLAT;
rebuild the index as each approximate kind (ensure_index) and time the same searches; recall@10
is the share of the exact top 10 (numpy over all vectors, which FLAT must equal) that the index
returns. Re-rank: scoring.rerank on each query's 100 candidates, the call /v1/rerank makes.
"""

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from facev3 import bootstrap
from facev3.config import Settings
from facev3.core import scoring
from facev3.core.pipeline import EmbedOptions
from facev3.gallery.store import FaceRecord, GalleryStore
from facev3.models import registry

ROOT = Path(__file__).resolve().parents[1]
SHARED_FACES = ROOT.parent / "shared" / "data" / "faces"
TAG = "sface@2021dec"
SAME_COSINE = 0.74  # mean cosine of two photos of one person in the labelled set


def real_embeddings() -> np.ndarray:
    """Every face of every shared photo, embedded by the real pipeline."""
    pipeline = bootstrap.build_pipeline(Settings())
    try:
        entries = json.loads((SHARED_FACES / "MANIFEST.json").read_text())["images"]
        vectors = []
        for entry in entries:
            (result,), _ = pipeline.run([(SHARED_FACES / entry["file"]).read_bytes()], EmbedOptions())
            vectors.extend(face.embedding for face in result.faces)
        return np.array(vectors, np.float32)
    finally:
        pipeline.backend.close()


class Synthetic:
    """Identity centres ~ N(mean, covariance) of real embeddings; faces around them."""

    def __init__(self, real: np.ndarray, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        self.mean = real.mean(axis=0)
        centred = real - self.mean
        covariance = centred.T @ centred / len(real) + 1e-4 * np.eye(real.shape[1])
        self.root = np.linalg.cholesky(covariance).astype(np.float32)
        self.dim = real.shape[1]
        # noise scale for a same-identity cosine near SAME_COSINE (found once by simulation)
        self.noise = self._noise_for(SAME_COSINE)

    def centres(self, count: int) -> np.ndarray:
        z = self.rng.standard_normal((count, self.dim), dtype=np.float32)
        return _unit(self.mean + z @ self.root.T)

    def faces(self, centres: np.ndarray) -> np.ndarray:
        z = self.rng.standard_normal(centres.shape, dtype=np.float32)
        return _unit(centres + self.noise * _unit(z @ self.root.T))

    def _noise_for(self, target: float) -> float:
        probe = np.random.default_rng(1)
        z = probe.standard_normal((2000, self.dim), dtype=np.float32)
        centres = _unit(self.mean + z @ self.root.T)
        low, high = 0.0, 4.0
        for _ in range(30):
            self.noise = (low + high) / 2
            a = _unit(
                centres + self.noise * _unit(probe.standard_normal(centres.shape, dtype=np.float32) @ self.root.T)
            )
            b = _unit(
                centres + self.noise * _unit(probe.standard_normal(centres.shape, dtype=np.float32) @ self.root.T)
            )
            if float(np.mean(np.sum(a * b, axis=1))) > target:
                low = self.noise
            else:
                high = self.noise
        return self.noise


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def percentiles(ms: list[float]) -> dict:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def timed_searches(gallery: GalleryStore, queries: np.ndarray, top_k: int, calibration) -> tuple[dict, list[list[int]]]:
    index = gallery.index()
    search_ms, rerank_ms, found = [], [], []
    for query in queries:
        started = time.perf_counter()
        (hits,) = gallery.search(query[None], TAG, top_k, index=index)
        search_ms.append((time.perf_counter() - started) * 1e3)
        started = time.perf_counter()
        scoring.rerank(query, np.stack([h.vector for h in hits]), calibration)
        rerank_ms.append((time.perf_counter() - started) * 1e3)
        found.append([h.id for h in hits])
    return {"search": percentiles(search_ms), "rerank": percentiles(rerank_ms)}, found


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    from facev3 import native

    scores = native.cosine_scores(queries, vectors)
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1), axis=1)


def recall_at(found: list[list[int]], exact: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(e[:k])) / k for f, e in zip(found, exact.tolist(), strict=True)]))


def run_size(size: int, args, synthetic: Synthetic, calibration, folder: Path) -> dict:
    per_identity = args.faces_per_identity
    identities = max(1, size // per_identity)
    centres = synthetic.centres(identities)
    query_centres = centres[synthetic.rng.integers(0, identities, args.queries)]
    queries = synthetic.faces(query_centres)
    uri = str(folder / f"scale-{size}.db")
    result: dict = {"size": size, "identities": identities, "queries": len(queries), "top_k": args.top_k}
    ids_in_order: list[int] = []
    vectors = np.empty((size, synthetic.dim), np.float32)
    with GalleryStore.open(uri, TAG, synthetic.dim, index="FLAT") as gallery:
        started, inserting = time.perf_counter(), 0.0
        for start in range(0, size, args.chunk):
            stop = min(start + args.chunk, size)
            owners = np.arange(start, stop) // per_identity % identities
            vectors[start:stop] = synthetic.faces(centres[owners])
            records = [
                FaceRecord(v, "synthetic", "", (0, 0, 1, 1), (0.0,) * 10, 1.0, None) for v in vectors[start:stop]
            ]
            t = time.perf_counter()
            ids_in_order.extend(gallery.insert(records, TAG))
            inserting += time.perf_counter() - t
        t = time.perf_counter()
        gallery.flush()  # as `facev3 gallery add` does at its end
        inserting += time.perf_counter() - t
        result["insert"] = {
            "seconds_with_flush": round(inserting, 1),
            "rows_per_s": round(size / inserting),
            "wall_s_with_generation": round(time.perf_counter() - started, 1),
        }
        print(f"{size:,}: inserted at {result['insert']['rows_per_s']:,} rows/s", flush=True)
        exact = exact_top(vectors, queries, 10)
        baseline_ms = []
        for query in queries:  # baseline: exact top-k in-process, no database
            t = time.perf_counter()
            exact_top(vectors, query[None], args.top_k)
            baseline_ms.append((time.perf_counter() - t) * 1e3)
        result["in_process_exact"] = percentiles(baseline_ms)
        ids = np.array(ids_in_order, np.int64)
        exact_ids = ids[exact]
        flat_queries = queries[: args.flat_queries]
        stats, found = timed_searches(gallery, flat_queries, args.top_k, calibration)
        result["FLAT"] = {**stats, "recall_at_10": round(recall_at(found, exact_ids[: len(flat_queries)], 10), 4)}
        print(f"{size:,}: FLAT {result['FLAT']}", flush=True)
        for kind in args.indexes:
            t = time.perf_counter()
            choice = gallery.ensure_index(kind)
            build_s = time.perf_counter() - t
            stats, found = timed_searches(gallery, queries, args.top_k, calibration)
            result[kind] = {
                "index": choice.describe() if choice else kind,
                "build_s": round(build_s, 1),
                **stats,
                "recall_at_10": round(recall_at(found, exact_ids, 10), 4),
            }
            print(f"{size:,}: {kind} {result[kind]}", flush=True)
    shutil.rmtree(uri, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--indexes", nargs="+", default=["HNSW", "IVF_FLAT"], choices=["HNSW", "IVF_FLAT"])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--flat-queries", type=int, default=50, help="FLAT is slow at scale: fewer queries")
    parser.add_argument("--top-k", type=int, default=100)
    parser.add_argument("--faces-per-identity", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--folder", type=Path, default=None, help="where the milvus-lite files go (default: a tmp dir)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gallery_scale.json")
    args = parser.parse_args()
    real = real_embeddings()
    synthetic = Synthetic(real)
    calibration = bootstrap.calibration(registry.resolve(None, "embedder").spec)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="gallery-scale-"))
    report = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "real_faces": len(real),
        "noise": round(synthetic.noise, 4),
        "runs": [],
    }
    for size in args.sizes:
        report["runs"].append(run_size(size, args, synthetic, calibration, folder))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
