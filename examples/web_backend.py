"""The web backend's flow against a running facev3, with its own Milvus:

    enrol:  photos -> POST /v1/embeddings -> insert the vectors into Milvus
    search: photo  -> POST /v1/embeddings -> Milvus top-k -> POST /v1/rerank -> calibrated matches

    python examples/web_backend.py --api http://127.0.0.1:8000 --milvus web.db \\
        --enrol rob=Rob_Lowe_0001.jpg --enrol obama=obama.jpg --query Rob_Lowe_0002.jpg

Prints one JSON line per re-ranked candidate: person, score (0-1), match. Needs httpx and
pymilvus (with milvus-lite for a file URI); the vectors never leave this process but to Milvus.
"""

import argparse
import base64
import json
from pathlib import Path

import httpx
import numpy as np
from pymilvus import DataType, MilvusClient

COLLECTION = "web_faces"


def b64(vector) -> str:
    """float32 little-endian, base64: ~3x cheaper for the server to read than float lists."""
    return base64.b64encode(np.asarray(vector, "<f4").tobytes()).decode()


def embed(api: httpx.Client, photo: Path) -> tuple[str, int, list[float]]:
    """The model tag, embedding size and embedding of the largest face of a photo."""
    image = {"id": photo.name, "data": base64.b64encode(photo.read_bytes()).decode()}
    response = api.post("/v1/embeddings", json={"images": [image], "max_faces": 1})
    response.raise_for_status()
    body = response.json()
    (result,) = body["images"]
    if result["status"] != "ok" or not result["faces"]:
        raise SystemExit(f"{photo}: {result.get('error', {}).get('message', 'no face found')}")
    return body["model"], body["embedding_size"], result["faces"][0]["embedding"]


def collection(milvus: MilvusClient, dim: int) -> None:
    if milvus.has_collection(COLLECTION):
        return
    schema = MilvusClient.create_schema(auto_id=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("person", DataType.VARCHAR, max_length=256)
    schema.add_field("model", DataType.VARCHAR, max_length=128)  # never compare two models' vectors
    index = milvus.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="COSINE")  # HNSW beyond ~100k faces
    milvus.create_collection(COLLECTION, schema=schema, index_params=index, consistency_level="Strong")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--milvus", default="web.db", help="a milvus-lite file or http://host:19530")
    parser.add_argument("--enrol", action="append", default=[], metavar="PERSON=PHOTO")
    parser.add_argument("--query", type=Path, required=True)
    parser.add_argument("--top-k", type=int, default=100)
    args = parser.parse_args()

    headers = {"x-api-key": args.api_key} if args.api_key else {}
    with httpx.Client(base_url=args.api, headers=headers, timeout=60) as api:
        milvus = MilvusClient(args.milvus)
        try:
            for item in args.enrol:
                person, photo = item.split("=", 1)
                model, dim, vector = embed(api, Path(photo))
                collection(milvus, dim)
                milvus.insert(COLLECTION, [{"vector": vector, "person": person, "model": model}])

            model, dim, query = embed(api, args.query)
            (hits,) = milvus.search(
                COLLECTION,
                data=[query],
                limit=args.top_k,
                filter=f"model == {json.dumps(model)}",
                output_fields=["vector", "person"],
                search_params={"metric_type": "COSINE"},
            )
            people = {h["id"]: h["entity"]["person"] for h in hits}
            response = api.post(
                "/v1/rerank",
                json={
                    "query_b64": b64(query),
                    "candidates": [{"id": h["id"], "embedding_b64": b64(h["entity"]["vector"])} for h in hits],
                    "top_k": 10,
                },
            )
            response.raise_for_status()
            for result in response.json()["results"]:
                print(json.dumps({"person": people[result["id"]], "score": result["score"], "match": result["match"]}))
        finally:
            milvus.close()


if __name__ == "__main__":
    main()
