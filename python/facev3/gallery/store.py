"""A gallery is one Milvus collection of faces of one embedding model (README, "Galleries").

Schema (one row per face):
    id            INT64, primary key, assigned by facev3 (random 63-bit), not Milvus' auto_id:
                  fixing a label is an upsert, and a Milvus server gives auto_id rows a new id on
                  every upsert (milvus-lite keeps it), so ids would change under the user.
    vector        FLOAT_VECTOR(dim), dim = the embedder's embedding_size, unit length; COSINE
    photo         VARCHAR(4096), the source photo's absolute path
    photo_sha256  VARCHAR(64), its content hash: `add` skips photos already enrolled
    box           ARRAY<FLOAT>[4] x1, y1, x2, y2 in the photo's pixels
    landmarks     ARRAY<FLOAT>[10] five (x, y) points: the crop can be re-aligned from the photo
    det_score     FLOAT, the detector's score
    quality       FLOAT 0-1, -1 when the pipeline gave none (not nullable: older servers lack it)
    label         VARCHAR(256), the person's name; "" when unknown
    model         VARCHAR(128), the embedder's name@version (each vector carries its model)
    crop          VARCHAR(65535), the aligned 112 x 112 crop as base64 PNG ("" when not kept).
                  Inline rather than a file store: a row and its crop are added and deleted
                  together, nothing else must be backed up or shared with a Milvus server, and a
                  PNG of a 112 x 112 x 3 crop can never exceed the VARCHAR limit (<= 51 KB as
                  base64). The cost is memory in a loaded collection (about 25-35 KB a face):
                  beyond ~100,000 faces enrol with --no-crops, and contact sheets re-align crops
                  from the photo and landmarks.
    created       INT64, Unix time in milliseconds

The collection's properties record the model tag (`facev3.model`), the dimension and the index
policy; its description repeats the tag (a Milvus server keeps descriptions; milvus-lite 3 keeps
only properties). Every insert and search names its vectors' model and is refused with
ModelMismatch when the collection holds another's.
"""

import hashlib
import json
import logging
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facev3.gallery.errors import (
    INSTALL_HINT,
    CollectionMissing,
    GalleryError,
    MilvusMissing,
    MilvusUnavailable,
    ModelMismatch,
    NotAGallery,
)

DEFAULT_URI = "facev3-gallery.db"  # a milvus-lite file in the current folder: nothing to start
# pymilvus pings every 10 s; milvus-lite's embedded gRPC server keeps gRPC's default of one ping in
# 5 minutes and answers more with GOAWAY "too_many_pings", so any call over about 30 s (an index
# build over a million faces) broke off and was retried. On loopback a ping in 10 minutes will do.
LITE_GRPC_OPTIONS = {"grpc.keepalive_time_ms": 600_000}
SCHEMA_VERSION = "1"
MODEL_PROPERTY, DIM_PROPERTY, INDEX_PROPERTY, SCHEMA_PROPERTY = (
    "facev3.model",
    "facev3.dim",
    "facev3.index",
    "facev3.schema",
)
UNKNOWN_QUALITY = -1.0
PHOTO_MAX, LABEL_MAX, MODEL_MAX, CROP_MAX = 4096, 256, 128, 65535
# Below this many faces an exact (FLAT) search is fast enough and exact; beyond it, HNSW.
FLAT_LIMIT = 100_000
INDEX_KINDS = ("auto", "FLAT", "HNSW", "IVF_FLAT")
HNSW_BUILD = {"M": 16, "efConstruction": 200}
HNSW_EF = 128  # search-time; raised to top_k when that is larger (Milvus requires ef >= k)
IVF_NPROBE = 32  # at least; nlist / 16 when larger (32 of 1,024 cells found 0.85 of the top 10)
SEARCH_FIELDS = ["photo", "label", "box", "det_score", "quality", "vector"]
ALL_FIELDS = [
    "id",
    "vector",
    "photo",
    "photo_sha256",
    "box",
    "landmarks",
    "det_score",
    "quality",
    "label",
    "model",
    "crop",
    "created",
]
BATCH = 1000  # rows per insert / get call
ITERATOR_BATCH = 4096  # rows per query-iterator page (a server caps offset + limit at 16,384)


@dataclass(frozen=True)
class FaceRecord:
    """One face to enrol."""

    vector: np.ndarray  # (D,) float32, unit length
    photo: str
    photo_sha256: str
    box: Sequence[float]
    landmarks: Sequence[float]  # 10 values
    det_score: float
    quality: float | None
    label: str = ""
    crop: str = ""  # base64 PNG of the aligned crop, "" to keep none


@dataclass(frozen=True)
class Hit:
    id: int
    cosine: float
    photo: str
    label: str
    box: list[float]
    det_score: float
    quality: float | None
    vector: np.ndarray


@dataclass(frozen=True)
class IndexChoice:
    kind: str  # FLAT, HNSW or IVF_FLAT
    build: dict
    search: dict

    def describe(self) -> str:
        params = {**self.build, **self.search}
        return self.kind + (" " + ", ".join(f"{k}={v}" for k, v in params.items()) if params else "")


def choose_index(policy: str, count: int) -> IndexChoice:
    """The index a collection of `count` faces gets under `policy` (auto: FLAT below FLAT_LIMIT
    faces, HNSW from there)."""
    if policy not in INDEX_KINDS:
        raise GalleryError(f"unknown index {policy!r}: expected one of {', '.join(INDEX_KINDS)}")
    kind = policy if policy != "auto" else ("FLAT" if count < FLAT_LIMIT else "HNSW")
    if kind == "HNSW":
        return IndexChoice("HNSW", dict(HNSW_BUILD), {"ef": HNSW_EF})
    if kind == "IVF_FLAT":
        # nlist ~ 4 sqrt(n), a power of two in 128..16384 (Milvus' guidance for IVF).
        nlist = 2 ** round(math.log2(min(max(4 * math.sqrt(max(count, 1)), 128), 16384)))
        return IndexChoice("IVF_FLAT", {"nlist": nlist}, {"nprobe": max(IVF_NPROBE, nlist // 16)})
    return IndexChoice("FLAT", {}, {})


def collection_name(model_tag: str) -> str:
    """faces_<name>_<version>, with every character Milvus does not allow in a name as '_'."""
    return "faces_" + re.sub(r"[^A-Za-z0-9_]", "_", model_tag.replace("@", "_"))[:200]


def is_lite(uri: str) -> bool:
    return not re.match(r"^(https?|tcp|unix):", uri)


def new_ids(count: int) -> list[int]:
    return [secrets.randbits(63) for _ in range(count)]


def literal(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value)


# milvus-lite runs one embedded server per file per process; stores opened on the same file share
# it, and the last one closed stops it.
_lite_users: dict[str, int] = {}
_lite_lock = threading.Lock()


def connect(uri: str, create: bool = True):
    """A MilvusClient for `uri`: a milvus-lite file (PATH.db) or http(s)://host:port. A missing
    milvus-lite file is made only when `create`."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise MilvusMissing(f"galleries need pymilvus, which is not installed: {INSTALL_HINT}") from None
    for name in ("pymilvus", "milvus_lite"):  # their own error logs would repeat our messages
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if is_lite(uri):
        if not uri.endswith(".db"):
            raise GalleryError(f"--milvus {uri!r}: a milvus-lite file must end in .db (or give http://host:19530)")
        if not Path(uri).resolve().parent.is_dir():
            raise GalleryError(f"--milvus {uri!r}: its folder does not exist")
        try:
            import milvus_lite  # noqa: F401
        except ImportError:
            raise MilvusMissing(
                f"a milvus-lite file ({uri}) needs milvus-lite, which is not installed: {INSTALL_HINT}"
            ) from None
        if not create and not Path(uri).exists():
            raise CollectionMissing(f"no gallery at {uri}: enrol faces first with `facev3 gallery add`")
        # The embedded server answers each query iterator's AllocTimestamp with "not implemented"
        # (the iterator then uses the client's clock) and gRPC logs a traceback for it.
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
        path = str(Path(uri).resolve())
        try:
            client = MilvusClient(path, grpc_options=LITE_GRPC_OPTIONS)
        except Exception as error:
            raise MilvusUnavailable(
                f"cannot open the milvus-lite file {path}: {error} (milvus-lite lets one process use a file "
                f"at a time; for shared access run a Milvus server)"
            ) from None
        with _lite_lock:
            _lite_users[path] = _lite_users.get(path, 0) + 1
        return client
    try:
        return MilvusClient(uri, timeout=10)
    except Exception as error:
        raise MilvusUnavailable(f"cannot reach Milvus at {uri}: {error}") from None


def release(client, uri: str) -> None:
    client.close()
    if is_lite(uri):
        path = str(Path(uri).resolve())
        with _lite_lock:
            _lite_users[path] -= 1
            last = _lite_users[path] == 0
            if last:
                del _lite_users[path]
        if last:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(path)


class GalleryStore:
    """One open collection. Use as a context manager, or call close()."""

    def __init__(self, client, uri: str, name: str, model_tag: str, dim: int) -> None:
        self.client, self.uri, self.name, self.model_tag, self.dim = client, uri, name, model_tag, dim

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        uri: str,
        model_tag: str,
        dim: int,
        collection: str | None = None,
        *,
        create: bool = True,
        index: str = "auto",
    ) -> "GalleryStore":
        """The collection of `model_tag`'s faces (created when missing and `create`); refuses a
        collection that holds another model's vectors."""
        client = connect(uri, create)
        name = collection or collection_name(model_tag)
        try:
            store = cls(client, uri, name, model_tag, dim)
            if not client.has_collection(name):
                if not create:
                    raise CollectionMissing(
                        f"no gallery {name!r} at {uri}: enrol faces first with `facev3 gallery add`"
                    )
                store._create(index)
            store._check_model(model_tag, dim)
            store._load()
            return store
        except GalleryError:
            release(client, uri)
            raise
        except Exception as error:
            release(client, uri)
            raise MilvusUnavailable(f"Milvus at {uri}: {error}") from None

    @classmethod
    def open_existing(cls, uri: str, collection: str) -> "GalleryStore":
        """A collection by name, whatever its model (for stats and removal)."""
        client = connect(uri, create=False)
        try:
            if not client.has_collection(collection):
                raise CollectionMissing(f"no gallery {collection!r} at {uri}")
            tag, dim = _recorded_model(client.describe_collection(collection), collection)
            store = cls(client, uri, collection, tag, dim)
            store._load()
            return store
        except GalleryError:
            release(client, uri)
            raise

    def _create(self, policy: str) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(
            auto_id=False, enable_dynamic_field=False, description=f"facev3 faces; model {self.model_tag}"
        )
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("photo", DataType.VARCHAR, max_length=PHOTO_MAX)
        schema.add_field("photo_sha256", DataType.VARCHAR, max_length=64)
        schema.add_field("box", DataType.ARRAY, element_type=DataType.FLOAT, max_capacity=4)
        schema.add_field("landmarks", DataType.ARRAY, element_type=DataType.FLOAT, max_capacity=10)
        schema.add_field("det_score", DataType.FLOAT)
        schema.add_field("quality", DataType.FLOAT)
        schema.add_field("label", DataType.VARCHAR, max_length=LABEL_MAX)
        schema.add_field("model", DataType.VARCHAR, max_length=MODEL_MAX)
        schema.add_field("crop", DataType.VARCHAR, max_length=CROP_MAX)
        schema.add_field("created", DataType.INT64)
        self.client.create_collection(
            self.name,
            schema=schema,
            index_params=self._index_params(choose_index(policy, 0)),
            consistency_level="Strong",  # a face added by one command is found by the next
            properties={
                MODEL_PROPERTY: self.model_tag,
                DIM_PROPERTY: str(self.dim),
                INDEX_PROPERTY: policy,
                SCHEMA_PROPERTY: SCHEMA_VERSION,
            },
        )

    def _index_params(self, choice: IndexChoice):
        params = self.client.prepare_index_params()
        # As one JSON "params" entry, the form every Milvus reads: pymilvus 3 would otherwise send
        # each parameter as its own entry, which milvus-lite 3.2 ignores (building its defaults).
        build = {"params": choice.build} if choice.build else {}
        params.add_index("vector", index_type=choice.kind, metric_type="COSINE", params=build)
        return params

    def _check_model(self, model_tag: str, dim: int) -> None:
        tag, recorded_dim = _recorded_model(self.client.describe_collection(self.name), self.name)
        if tag != model_tag:
            raise ModelMismatch(self.name, tag, model_tag)
        if recorded_dim != dim:
            raise GalleryError(f"collection {self.name!r} holds {recorded_dim}-d vectors; {model_tag} gives {dim}-d")

    def _load(self) -> None:
        state = self.client.get_load_state(self.name).get("state")
        if "Loaded" not in str(state):
            self.client.load_collection(self.name)

    def close(self) -> None:
        release(self.client, self.uri)

    def __enter__(self) -> "GalleryStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the model tag -------------------------------------------------------------------------

    def require(self, model_tag: str) -> None:
        """Refuses vectors of any model but the collection's."""
        if model_tag != self.model_tag:
            raise ModelMismatch(self.name, self.model_tag, model_tag)

    # -- writing -------------------------------------------------------------------------------

    def insert(self, records: Sequence[FaceRecord], model_tag: str) -> list[int]:
        """Adds faces; returns their ids."""
        self.require(model_tag)
        ids = new_ids(len(records))
        now = int(time.time() * 1000)
        rows = [self._row(i, r, now) for i, r in zip(ids, records, strict=True)]
        for start in range(0, len(rows), BATCH):
            self._call("insert", self.client.insert, self.name, rows[start : start + BATCH])
        return ids

    def _row(self, id_: int, r: FaceRecord, created: int) -> dict:
        vector = np.asarray(r.vector, np.float32)
        if vector.shape != (self.dim,):
            raise GalleryError(f"a {vector.shape} vector for a collection of {self.dim}-d vectors")
        if len(r.photo.encode()) > PHOTO_MAX or len(r.label.encode()) > LABEL_MAX:
            raise GalleryError(f"photo path (<= {PHOTO_MAX} bytes) or label (<= {LABEL_MAX} bytes) too long: {r.photo}")
        crop = r.crop
        if len(crop) > CROP_MAX:
            raise GalleryError(f"the aligned crop of a face of {r.photo} is over {CROP_MAX} bytes as base64")
        return {
            "id": id_,
            "vector": vector,
            "photo": r.photo,
            "photo_sha256": r.photo_sha256,
            "box": [float(v) for v in r.box],
            "landmarks": [float(v) for v in np.ravel(r.landmarks)],
            "det_score": float(r.det_score),
            "quality": UNKNOWN_QUALITY if r.quality is None else float(r.quality),
            "label": r.label,
            "model": self.model_tag,
            "crop": crop,
            "created": created,
        }

    def flush(self) -> None:
        """Seals what was inserted: milvus-lite searches its unsealed rows by brute force in Python
        (20,000 rows: 300 ms a search; 22 ms once sealed), so `add` flushes once at its end."""
        self._call("flush", self.client.flush, self.name)

    def relabel(self, ids: Sequence[int], label: str) -> int:
        """Sets the label of faces (an upsert of their whole rows: the id stays); returns how many."""
        if len(label.encode()) > LABEL_MAX:
            raise GalleryError(f"a label has at most {LABEL_MAX} bytes")
        changed = 0
        for start in range(0, len(ids), BATCH):
            rows = self._call(
                "get", self.client.get, self.name, ids=list(ids[start : start + BATCH]), output_fields=ALL_FIELDS
            )
            for row in rows:
                row["label"] = label
                row["vector"] = np.asarray(row["vector"], np.float32)
            if rows:
                self._call("upsert", self.client.upsert, self.name, list(rows))
            changed += len(rows)
        return changed

    def delete(self, expression: str) -> int:
        """Deletes the faces a filter expression selects; returns how many there were."""
        count = self.count(expression)
        if count:
            self._call("delete", self.client.delete, self.name, filter=expression)
        return count

    def drop(self) -> None:
        self._call("drop", self.client.drop_collection, self.name)

    # -- reading -------------------------------------------------------------------------------

    def count(self, expression: str = "") -> int:
        rows = self._call("count", self.client.query, self.name, filter=expression, output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def enrolled(self, photo_sha256: str) -> bool:
        return self.count(f"photo_sha256 == {literal(photo_sha256)}") > 0

    def index(self) -> IndexChoice:
        """The vector index as Milvus describes it."""
        info = self._call("describe_index", self.client.describe_index, self.name, "vector")
        kind = info.get("index_type", "")
        known = ("M", "efConstruction", "nlist")
        reported = {**info, **(info.get("params") if isinstance(info.get("params"), dict) else {})}
        build = {k: int(reported[k]) for k in known if k in reported}
        nprobe = max(IVF_NPROBE, build.get("nlist", 0) // 16)
        search = {"HNSW": {"ef": HNSW_EF}, "IVF_FLAT": {"nprobe": nprobe}}.get(kind, {})
        return IndexChoice(kind, build, search)

    def policy(self) -> str:
        properties = self.client.describe_collection(self.name).get("properties") or {}
        return properties.get(INDEX_PROPERTY, "auto")

    def ensure_index(self, policy: str | None = None) -> IndexChoice | None:
        """Rebuilds the vector index when the policy (given, or the recorded one) asks for another
        kind at the current size (auto: FLAT becomes HNSW past FLAT_LIMIT faces). Returns the new
        index, or None when nothing changed."""
        recorded = self.policy()
        policy = policy or recorded
        wanted = choose_index(policy, self.count())
        if wanted.kind == self.index().kind:
            if policy != recorded:
                self.client.alter_collection_properties(self.name, properties={INDEX_PROPERTY: policy})
            return None
        self._call("release", self.client.release_collection, self.name)
        self._call("drop_index", self.client.drop_index, self.name, "vector")
        try:
            self._call("create_index", self.client.create_index, self.name, self._index_params(wanted))
        except MilvusUnavailable:
            # pymilvus retries a call whose connection dropped; the retry of a create_index that
            # went through finds the index there (seen with milvus-lite during a 1M-row HNSW build)
            if self.index().kind != wanted.kind:
                raise
        self._call("load", self.client.load_collection, self.name)
        self.client.alter_collection_properties(self.name, properties={INDEX_PROPERTY: policy})
        return wanted

    def search(
        self, vectors: np.ndarray, model_tag: str, top_k: int, expression: str = "", index: IndexChoice | None = None
    ) -> list[list[Hit]]:
        """The top_k nearest faces (cosine) of each query vector, best first, with their vectors."""
        self.require(model_tag)
        index = index or self.index()
        params = dict(index.search)
        if "ef" in params:
            params["ef"] = max(params["ef"], top_k)
        queries = np.asarray(vectors, np.float32).reshape(-1, self.dim)
        found = self._call(
            "search",
            self.client.search,
            self.name,
            data=list(queries),
            limit=top_k,
            filter=expression,
            output_fields=SEARCH_FIELDS,
            search_params={"metric_type": "COSINE", "params": params},
        )
        return [[_hit(h) for h in hits] for hits in found]

    def neighbours(
        self, vectors: np.ndarray, model_tag: str, min_cosine: float, limit: int, index: IndexChoice | None = None
    ) -> list[list[tuple[int, float]]]:
        """Range search: for each vector, up to `limit` (id, cosine) with cosine >= min_cosine."""
        self.require(model_tag)
        index = index or self.index()
        params = {**index.search, "radius": float(min_cosine) - 1e-6, "range_filter": 1.0 + 1e-6}
        if "ef" in params:
            params["ef"] = max(params["ef"], limit)
        found = self._call(
            "range search",
            self.client.search,
            self.name,
            data=list(np.asarray(vectors, np.float32)),
            limit=limit,
            output_fields=[],
            search_params={"metric_type": "COSINE", "params": params},
        )
        return [[(int(h["id"]), float(h["distance"])) for h in hits] for hits in found]

    def rows(self, fields: Sequence[str], expression: str = "") -> Iterator[dict]:
        """Every face the filter selects, with the given fields, in pages."""
        iterator = self._call(
            "query",
            self.client.query_iterator,
            self.name,
            batch_size=ITERATOR_BATCH,
            filter=expression,
            output_fields=list(fields),
        )
        try:
            while page := iterator.next():
                yield from page
        finally:
            iterator.close()

    def columns(self, fields: Sequence[str], expression: str = "") -> dict[str, list]:
        """rows() as one list per field (`id` always included)."""
        fields = ["id", *[f for f in fields if f != "id"]]
        out: dict[str, list] = {f: [] for f in fields}
        for row in self.rows(fields, expression):
            for f in fields:
                out[f].append(row[f])
        return out

    def get(self, ids: Sequence[int], fields: Sequence[str]) -> dict[int, dict]:
        out: dict[int, dict] = {}
        for start in range(0, len(ids), BATCH):
            for row in self._call(
                "get", self.client.get, self.name, ids=list(ids[start : start + BATCH]), output_fields=list(fields)
            ):
                out[int(row["id"])] = row
        return out

    def _call(self, what: str, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except GalleryError:
            raise
        except Exception as error:
            message = getattr(error, "message", None) or str(error)
            raise MilvusUnavailable(f"Milvus {what} on {self.name!r} at {self.uri} failed: {message}") from None


def _recorded_model(description: dict, name: str) -> tuple[str, int]:
    properties = description.get("properties") or {}
    tag = properties.get(MODEL_PROPERTY)
    if tag is None:
        match = re.search(r"model (\S+)", description.get("description") or "")
        tag = match.group(1) if match else None
    if tag is None:
        raise NotAGallery(
            f"collection {name!r} was not made by facev3 gallery (no model tag): name another --collection"
        )
    dims = [f["params"].get("dim") for f in description.get("fields", []) if f.get("name") == "vector"]
    dim = int(properties.get(DIM_PROPERTY) or (dims[0] if dims else 0))
    return tag, dim


def _hit(h: dict) -> Hit:
    e = h["entity"]
    quality = e.get("quality")
    return Hit(
        id=int(h["id"]),
        cosine=float(h["distance"]),
        photo=e.get("photo", ""),
        label=e.get("label", ""),
        box=[float(v) for v in e.get("box") or []],
        det_score=float(e.get("det_score", 0.0)),
        quality=None if quality is None or quality < 0 else float(quality),
        vector=np.asarray(e["vector"], np.float32),
    )


def photo_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def resolved(path: Path | str) -> str:
    return os.path.abspath(path)
