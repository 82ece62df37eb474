"""Type stubs for facev3._native (the compiled module); tests/test_native_stub.py keeps them in step."""

import numpy as np
import numpy.typing as npt

ARCFACE_TEMPLATE: npt.NDArray[np.float32]
ALIGNED_SIZE: int
SIMD_KERNEL: str

class InputError(ValueError):
    code: str

class RerankResult:
    @property
    def order(self) -> npt.NDArray[np.int64]: ...
    @property
    def cosine(self) -> npt.NDArray[np.float32]: ...
    @property
    def similarity(self) -> npt.NDArray[np.float32]: ...
    @property
    def score(self) -> npt.NDArray[np.float32]: ...
    @property
    def match(self) -> npt.NDArray[np.bool_]: ...

def cosine_scores(
    queries: npt.NDArray[np.float32],
    candidates: npt.NDArray[np.float32],
    *,
    out: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]: ...
def search(
    queries: npt.NDArray[np.float32],
    candidates: npt.NDArray[np.float32],
    k: int,
    *,
    threads: int | None = None,
    out_ids: npt.NDArray[np.int64] | None = None,
    out_scores: npt.NDArray[np.float32] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]: ...
def rerank(
    query: npt.NDArray[np.float32],
    candidates: npt.NDArray[np.float32],
    *,
    calibration_threshold: float,
    calibration_scale: float,
    method: str = "cosine",
    match_threshold: float = 0.5,
    top_k: int | None = None,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
    qe_k: int = 5,
    qe_alpha: float = 3.0,
) -> RerankResult: ...
def read_rerank_b64(
    body: bytes | bytearray | memoryview, max_candidates: int
) -> tuple[bytes, npt.NDArray[np.float32], list[str | int], npt.NDArray[np.float32]] | None: ...
def read_rerank_msgpack(
    body: bytes | bytearray | memoryview, max_candidates: int
) -> tuple[bytes, npt.NDArray[np.float32], list[str | int], npt.NDArray[np.float32]] | None: ...
def merge_embeddings(
    embeddings: npt.NDArray[np.float32],
    weights: npt.NDArray[np.float32] | None = None,
    *,
    renormalize: bool = True,
    out: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]: ...
def concat_embeddings(
    parts: list[npt.NDArray[np.float32]],
    *,
    renormalize: bool = False,
    out: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]: ...
def estimate_similarity(
    src: npt.NDArray[np.float32],
    dst: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]: ...
def align_faces(
    image: npt.NDArray[np.uint8],
    landmarks: npt.NDArray[np.float32],
    *,
    swap_rb: bool = False,
    out: npt.NDArray[np.uint8] | None = None,
) -> npt.NDArray[np.uint8]: ...
