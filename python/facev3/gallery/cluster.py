"""Grouping faces into people: a neighbour graph at the calibrated threshold, then Chinese whispers.

Graph: each face is joined to its K nearest faces (cosine) whose cosine is at least the cosine
where the calibrated score reaches the match threshold; the edge weighs the calibrated score.
Built exactly with facev3.native.search, the batch top-k (knn_graph), or from Milvus range
searches (graph_from_pairs with GalleryStore.neighbours) when the vectors stay in the server.

Clustering: Chinese whispers (Biemann, 2006): every face starts as its own person; in a seeded
random order, each face takes the person that weighs most among its neighbours, until nothing
changes. Unlike single linkage (connected components) it does not chain: one stray edge between
two people is outvoted by the many edges inside each. Deterministic for a given seed.

Labels are fixes by a person and win over the graph: faces that share a label are one person
(merge) and keep it; faces with different labels are never in one person (split); unlabelled
faces join whichever labelled or unlabelled group weighs most among their neighbours.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from facev3 import native
from facev3.core.models import Calibration

NEIGHBOURS = 20  # K: edges kept per face (limits hubs: one blurry face close to many people)


@dataclass(frozen=True)
class Graph:
    """Undirected weighted graph in CSR form: the neighbours of node i are
    indices[indptr[i]:indptr[i + 1]] with weights at the same places."""

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    @property
    def size(self) -> int:
        return len(self.indptr) - 1

    @property
    def edges(self) -> int:
        return len(self.indices) // 2


@dataclass(frozen=True)
class Person:
    name: str  # the label, or person-NNNN
    labelled: bool
    members: np.ndarray  # node indices, ascending


def match_cosine(calibration: Calibration, match_threshold: float = 0.5) -> float:
    """The cosine at which the calibrated score equals match_threshold."""
    p = min(max(match_threshold, 1e-6), 1 - 1e-6)
    return calibration.threshold + float(np.log(p / (1 - p))) / calibration.scale


def score(cosines: np.ndarray, calibration: Calibration) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-calibration.scale * (np.asarray(cosines, np.float64) - calibration.threshold)))


def knn_graph(
    vectors: np.ndarray, calibration: Calibration, match_threshold: float = 0.5, k: int = NEIGHBOURS
) -> Graph:
    """Exact K-nearest-neighbour graph at the match threshold, from (n, D) float32 vectors, by the
    native batch top-k (native.search: no n x n matrix is ever held)."""
    vectors = np.ascontiguousarray(vectors, np.float32)
    n = len(vectors)
    if n == 0:
        return _symmetric(0, *(np.zeros(0, np.int64),) * 2, np.zeros(0, np.float32), calibration)
    nearest, cosines = native.search(vectors, vectors, k + 1)  # k + 1: each face finds itself too
    rows = np.broadcast_to(np.arange(n)[:, None], nearest.shape)
    keep = (nearest >= 0) & (nearest != rows) & (cosines >= match_cosine(calibration, match_threshold))
    return _symmetric(n, rows[keep], nearest[keep], cosines[keep], calibration)


def graph_from_pairs(
    n: int, pairs: Iterable[tuple[int, int, float]], calibration: Calibration, match_threshold: float = 0.5
) -> Graph:
    """A graph from (i, j, cosine) pairs of node indices (e.g. Milvus range-search results);
    pairs below the match threshold and self pairs are dropped."""
    min_cosine = match_cosine(calibration, match_threshold)
    found = [(i, j, c) for i, j, c in pairs if i != j and c >= min_cosine]
    if not found:
        return _symmetric(n, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), calibration)
    i, j, c = (np.array(v) for v in zip(*found, strict=True))
    return _symmetric(n, i.astype(np.int64), j.astype(np.int64), c.astype(np.float32), calibration)


def _symmetric(n: int, rows: np.ndarray, cols: np.ndarray, cosines: np.ndarray, calibration: Calibration) -> Graph:
    """An edge kept by either end is kept for both; duplicates keep their largest weight."""
    a = np.concatenate([rows, cols]).astype(np.int64)
    b = np.concatenate([cols, rows]).astype(np.int64)
    w = np.concatenate([cosines, cosines]).astype(np.float32)
    order = np.lexsort((-w, b, a))
    a, b, w = a[order], b[order], w[order]
    first = np.ones(len(a), bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    a, b, w = a[first], b[first], w[first]
    indptr = np.zeros(n + 1, np.int64)
    np.add.at(indptr, a + 1, 1)
    return Graph(np.cumsum(indptr), b, score(w, calibration).astype(np.float32))


def chinese_whispers(graph: Graph, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """A person number per node (the graph alone)."""
    n = graph.size
    neighbours = _lists(graph)
    current = list(range(n))
    rng = np.random.default_rng(seed)
    for _ in range(iterations):
        changed = 0
        for i in rng.permutation(n).tolist():
            best = _heaviest(neighbours[i], current)
            if best is not None and best != current[i]:
                current[i] = best
                changed += 1
        if not changed:
            break
    return np.array(current, np.int64)


def cluster(graph: Graph, labels: Sequence[str] | None = None, seed: int = 0) -> np.ndarray:
    """Chinese whispers, then the labels: groups that share a label become one (merge); a group
    with several labels is split, each unlabelled face going to the label that weighs most among
    its neighbours in the group, reached step by step from the labelled faces (split). Faces of a
    split group that no label reaches stay a person of their own."""
    assignment = chinese_whispers(graph, seed)
    if not labels or not any(labels):
        return assignment
    n = graph.size
    # merge: union of the groups that hold a label (union-find over group numbers)
    parent = {int(p): int(p) for p in set(assignment.tolist())}

    def root(p: int) -> int:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    first_group: dict[str, int] = {}
    for i, label in enumerate(labels):
        if label:
            a, b = root(int(assignment[i])), root(first_group.setdefault(label, int(assignment[i])))
            if a != b:
                parent[max(a, b)] = min(a, b)
    merged = np.array([root(int(p)) for p in assignment.tolist()], np.int64)
    # split: within each merged group with several labels, spread the labels from the labelled faces
    result = merged.copy()
    neighbours = _lists(graph)
    rng = np.random.default_rng(seed)
    next_number = n
    for group in np.unique(merged).tolist():
        members = np.flatnonzero(merged == group)
        names = sorted({labels[i] for i in members if labels[i]})
        if len(names) < 2:
            continue
        number = {name: next_number + k for k, name in enumerate(names)}
        next_number += len(names)
        current = {int(i): number[labels[i]] if labels[i] else -1 for i in members}
        free = [int(i) for i in members if not labels[i]]
        for _ in range(50):
            changed = 0
            for i in rng.permutation(free).tolist() if free else []:
                nodes, weights = neighbours[i]
                inside = [(j, w) for j, w in zip(nodes, weights, strict=True) if current.get(j, -1) >= 0]
                best = _heaviest(([j for j, _ in inside], [w for _, w in inside]), current)
                if best is not None and best != current[i]:
                    current[i] = best
                    changed += 1
            if not changed:
                break
        for i, p in current.items():
            result[i] = p if p >= 0 else next_number
        if any(p < 0 for p in current.values()):
            next_number += 1
    return result


def _lists(graph: Graph) -> list[tuple[list[int], list[float]]]:
    return [
        (
            graph.indices[graph.indptr[i] : graph.indptr[i + 1]].tolist(),
            graph.weights[graph.indptr[i] : graph.indptr[i + 1]].tolist(),
        )
        for i in range(graph.size)
    ]


def _heaviest(neighbourhood: tuple[list[int], list[float]], current) -> int | None:
    """The person whose faces weigh most among the neighbours (ties: the lowest number)."""
    nodes, weights = neighbourhood
    if not nodes:
        return None
    totals: dict[int, float] = {}
    for j, w in zip(nodes, weights, strict=True):
        p = current[j]
        totals[p] = totals.get(p, 0.0) + w
    return max(totals.items(), key=lambda item: (item[1], -item[0]))[0]


def people(assignment: np.ndarray, labels: Sequence[str] | None = None) -> list[Person]:
    """Persons from an assignment: labelled ones named by their label, the others person-0001...
    by size (largest first); each person's members ascending."""
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(assignment.tolist()):
        groups.setdefault(p, []).append(i)
    named, unnamed = [], []
    for members in groups.values():
        label = next((labels[i] for i in members if labels is not None and labels[i]), "")
        (named if label else unnamed).append((label, np.array(members, np.int64)))
    named.sort(key=lambda item: (-len(item[1]), item[0]))
    unnamed.sort(key=lambda item: (-len(item[1]), item[1][0]))
    width = max(4, len(str(len(unnamed))))
    return [Person(label, True, members) for label, members in named] + [
        Person(f"person-{number:0{width}d}", False, members) for number, (_, members) in enumerate(unnamed, 1)
    ]


def agreement(assignment: Sequence[int], truth: Sequence[str | None]) -> tuple[float, float]:
    """(purity, completeness) of a clustering against true identities, over the items that have
    one: purity = sum over clusters of its most frequent identity's count / N (are clusters one
    person?); completeness = sum over identities of the count in its most frequent cluster / N
    (is each person in one cluster?)."""
    pairs = [(int(c), t) for c, t in zip(assignment, truth, strict=True) if t]
    if not pairs:
        return 1.0, 1.0
    counts: dict[tuple[int, str], int] = {}
    for pair in pairs:
        counts[pair] = counts.get(pair, 0) + 1
    best_identity: dict[int, int] = {}
    best_cluster: dict[str, int] = {}
    for (c, t), count in counts.items():
        best_identity[c] = max(best_identity.get(c, 0), count)
        best_cluster[t] = max(best_cluster.get(t, 0), count)
    n = len(pairs)
    return sum(best_identity.values()) / n, sum(best_cluster.values()) / n


def centre_cosines(vectors: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Each member's cosine to its person's mean (merge_embeddings): low values flag faces that
    may not belong."""
    group = np.ascontiguousarray(vectors[members], np.float32)
    centre = native.merge_embeddings(group)
    return native.cosine_scores(centre, group)
