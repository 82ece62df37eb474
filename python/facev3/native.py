"""The one place the Python package imports the compiled core; everything else imports from here."""

from facev3._native import (
    ALIGNED_SIZE,
    ARCFACE_TEMPLATE,
    SIMD_KERNEL,
    InputError,
    RerankResult,
    align_faces,
    concat_embeddings,
    cosine_scores,
    estimate_similarity,
    merge_embeddings,
    read_rerank_b64,
    read_rerank_msgpack,
    rerank,
    search,
)

__all__ = [
    "ALIGNED_SIZE",
    "ARCFACE_TEMPLATE",
    "SIMD_KERNEL",
    "InputError",
    "RerankResult",
    "align_faces",
    "concat_embeddings",
    "cosine_scores",
    "estimate_similarity",
    "merge_embeddings",
    "read_rerank_b64",
    "read_rerank_msgpack",
    "rerank",
    "search",
]
