"""search (cosine top-k) vs numpy (normalize + matmul + argpartition), faiss IndexFlatIP on
normalized vectors and, for one query, a plain read of the candidates (np.max).

"1 thread" groups pin OpenBLAS to one thread with threadpoolctl and faiss with
faiss.omp_set_num_threads(1); "threads" groups compare 2 threads with 1. The baselines get their
candidates already normalized (an index would store them so), the stricter comparison: search
reads raw candidates and computes their norms every call. Cases of more than DEFAULT_MAX_GFLOP
run only with FACEV3_BENCH_FULL=1. Peak memory of MEMORY_CASE: how far the resident set's peak
(VmHWM, reset through /proc/self/clear_refs) rises above the resident set across one call, in a
fresh subprocess whose inputs are already built, so every allocation counts (numpy's, faiss's and
facev3's native ones alike). ru_maxrss would not do: Linux carries it over from the forking
parent, here pytest holding every case's arrays.
On a machine shared with other work, wall time counts the time slices lost to it (here half the
one-thread runs got under 0.9 of a core, see extra_info cores_used): time the 1-thread groups with
--benchmark-timer=time.process_time there. Needs requirements/bench.txt (faiss-cpu, threadpoolctl)."""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from facev3 import _native

SEED = 11
K = 100
QUERIES = (1, 16, 256, 1000)
CANDIDATES = (10_000, 100_000)
DIMS = (128, 512, 1024)
THREAD_CASES = ((256, 100_000, 512), (1000, 10_000, 512))
MEMORY_CASE = (1000, 100_000, 128)
DEFAULT_MAX_GFLOP = 30
ROUND_BUDGET_GFLOP = 20  # rounds per benchmark: about this much work, between 3 and 50
FULL = os.environ.get("FACEV3_BENCH_FULL") == "1"


def gflop(q: int, n: int, dim: int) -> float:
    return 2 * q * n * dim / 1e9


def cpu_info() -> dict:
    """Nominal clock and SIMD flags from /proc/cpuinfo; one core's AVX2 FMA peak is 2 FMA units
    x 8 floats x 2 flops per cycle (AVX-512: 16 floats)."""
    first_cpu = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    fields = {key.strip(): value.strip() for key, value in (line.split(":", 1) for line in first_cpu.splitlines())}
    mhz = float(fields["cpu MHz"])
    flags = fields["flags"].split()
    return {
        "cpu": fields["model name"],
        "cpu_mhz": mhz,
        "avx2_fma_peak_gflop_per_s": 2 * 8 * 2 * mhz / 1e3,
        "avx512_fma_peak_gflop_per_s": 2 * 16 * 2 * mhz / 1e3 if "avx512f" in flags else None,
        "avx512f": "avx512f" in flags,  # facev3 runs its 12 x 32 AVX-512 tiles, else 6 x 16 AVX2
    }


CPU = cpu_info()


@dataclass(frozen=True)
class Case:
    q: int
    n: int
    dim: int

    @property
    def name(self) -> str:
        return f"{self.q}x{self.n}x{self.dim}"

    @cached_property
    def queries(self) -> np.ndarray:
        return np.random.default_rng(SEED).standard_normal((self.q, self.dim), dtype=np.float32)

    @cached_property
    def candidates(self) -> np.ndarray:
        return np.random.default_rng(SEED + 1).standard_normal((self.n, self.dim), dtype=np.float32)

    @cached_property
    def unit_candidates(self) -> np.ndarray:
        return self.candidates / np.linalg.norm(self.candidates, axis=1, keepdims=True)

    @cached_property
    def index(self) -> faiss.IndexFlatIP:
        index = faiss.IndexFlatIP(self.dim)
        index.add(self.unit_candidates)
        return index


def numpy_search(queries: np.ndarray, unit_candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit_candidates.T
    top = np.argpartition(scores, -k, axis=1)[:, -k:]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1)
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)


def faiss_search(queries: np.ndarray, index: faiss.IndexFlatIP, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores, ids = index.search(queries / np.linalg.norm(queries, axis=1, keepdims=True), k)
    return ids, scores


def run(benchmark, case: Case, group: str, threads: int, call):
    benchmark.group = f"search {case.name} {group}"
    rounds = max(3, min(50, int(ROUND_BUDGET_GFLOP / gflop(case.q, case.n, case.dim))))
    faiss.omp_set_num_threads(threads)
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    with threadpool_limits(threads, user_api="blas"):
        result = benchmark.pedantic(call, rounds=rounds, warmup_rounds=1)
    # CPU seconds per wall second: below `threads` when the machine (2 cores, shared) had no core free.
    cores_used = (time.process_time() - start_cpu) / (time.perf_counter() - start_wall)
    benchmark.extra_info.update(
        CPU,
        threads=threads,
        cores_used=cores_used,
        gflop_per_s=gflop(case.q, case.n, case.dim) / benchmark.stats.stats.median,
    )
    return result


def memory_probe(case: Case, implementation: str) -> float:
    """MiB the resident set peaks above its size before one call, in a fresh process with the
    inputs built."""
    code = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import bench_search as b
case = b.Case({case.q}, {case.n}, {case.dim})
queries = case.queries
inputs = {{"facev3": case.candidates, "numpy": case.unit_candidates, "faiss": case.index}}[{implementation!r}]
call = {{
    "facev3": lambda: b._native.search(queries, inputs, b.K),
    "numpy": lambda: b.numpy_search(queries, inputs, b.K),
    "faiss": lambda: b.faiss_search(queries, inputs, b.K),
}}[{implementation!r}]
def status_kib(field):
    return int(open("/proc/self/status").read().split(field + ":")[1].split()[0])
open("/proc/self/clear_refs", "w").write("5")  # peak := current resident set
before = status_kib("VmRSS")
call()
print((status_kib("VmHWM") - before) / 1024)
"""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return float(
        subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout
    )


def grid() -> list:
    cases = []
    for q in QUERIES:
        for n in CANDIDATES:
            for dim in DIMS:
                big = gflop(q, n, dim) > DEFAULT_MAX_GFLOP
                marks = [pytest.mark.skipif(big and not FULL, reason="set FACEV3_BENCH_FULL=1")]
                cases.append(pytest.param(Case(q, n, dim), id=f"{q}x{n}x{dim}", marks=marks))
    return cases


@pytest.fixture(params=grid(), scope="module")
def case(request) -> Case:
    return request.param


def record_memory(benchmark, case: Case, implementation: str):
    if (case.q, case.n, case.dim) == MEMORY_CASE:
        benchmark.extra_info["peak_rss_growth_mib"] = memory_probe(case, implementation)


def test_facev3_search(benchmark, case):
    _, scores = run(benchmark, case, "1 thread", 1, lambda: _native.search(case.queries, case.candidates, K))
    np.testing.assert_allclose(scores, numpy_search(case.queries, case.unit_candidates, K)[1], atol=1e-5)
    record_memory(benchmark, case, "facev3")


def test_baseline_numpy_matmul_argpartition(benchmark, case):
    run(benchmark, case, "1 thread", 1, lambda: numpy_search(case.queries, case.unit_candidates, K))
    record_memory(benchmark, case, "numpy")


def test_baseline_faiss_flat_ip(benchmark, case):
    run(benchmark, case, "1 thread", 1, lambda: faiss_search(case.queries, case.index, K))
    record_memory(benchmark, case, "faiss")


def test_baseline_plain_read(benchmark, case):
    """numpy's SIMD max over the candidate bytes: what one query's pass over memory costs."""
    if case.q != 1:
        pytest.skip("one query only")
    run(benchmark, case, "1 thread", 1, lambda: np.max(case.candidates))


@pytest.fixture(params=[pytest.param(Case(*c), id="x".join(map(str, c))) for c in THREAD_CASES], scope="module")
def threads_case(request) -> Case:
    return request.param


@pytest.mark.parametrize("threads", [1, 2])
def test_facev3_search_threads(benchmark, threads_case, threads):
    case = threads_case
    run(benchmark, case, "threads", threads, lambda: _native.search(case.queries, case.candidates, K, threads=threads))


def test_baseline_numpy_2_threads(benchmark, threads_case):
    case = threads_case
    run(benchmark, case, "threads", 2, lambda: numpy_search(case.queries, case.unit_candidates, K))


def test_baseline_faiss_2_threads(benchmark, threads_case):
    case = threads_case
    run(benchmark, case, "threads", 2, lambda: faiss_search(case.queries, case.index, K))
