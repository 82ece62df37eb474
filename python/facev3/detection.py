"""YuNet pre- and post-processing, shared by the local backend and Triton's python models.

Pre: downscale so the longest side is at most `max_side` (INTER_AREA), zero-pad bottom and right
to multiples of 32 (never stretch), BGR float32 NCHW with raw 0-255 values.
Post (notes/models.md §3): one candidate per grid cell of strides 8, 16 and 32; score =
sqrt(cls * obj) (the geometric mean, as OpenCV's FaceDetectorYN); boxes and 5 landmarks decoded
from the cell; greedy NMS; coordinates divided by the resize factors back to full resolution.
"""

from dataclasses import dataclass

import cv2
import numpy as np

STRIDES = (8, 16, 32)
PAD = 32


@dataclass(frozen=True)
class Detections:
    """Faces of one image in full-resolution pixels, best score first."""

    boxes: np.ndarray  # (n, 4) float32 x1, y1, x2, y2
    scores: np.ndarray  # (n,) float32
    landmarks: np.ndarray  # (n, 5, 2) float32

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index: np.ndarray) -> "Detections":
        return Detections(self.boxes[index], self.scores[index], self.landmarks[index])


@dataclass(frozen=True)
class DetectorInput:
    tensor: np.ndarray  # (1, 3, H32, W32) float32 BGR
    scale_x: float  # downscaled width / original width
    scale_y: float


def downscaled_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(width, height) of the detection copy: longest side at most max_side, aspect kept."""
    ratio = min(1.0, max_side / max(height, width))
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def prepare(image_rgb: np.ndarray, max_side: int) -> DetectorInput:
    height, width = image_rgb.shape[:2]
    w, h = downscaled_size(height, width, max_side)
    small = image_rgb if (w, h) == (width, height) else cv2.resize(image_rgb, (w, h), interpolation=cv2.INTER_AREA)
    padded = np.zeros((1, 3, -(-h // PAD) * PAD, -(-w // PAD) * PAD), np.float32)
    padded[0, :, :h, :w] = small[..., ::-1].transpose(2, 0, 1)  # RGB -> BGR planes
    return DetectorInput(padded, w / width, h / height)


def decode(outputs: dict[str, np.ndarray], prepared: DetectorInput, score_threshold: float,
           nms_threshold: float, top_k: int = 5000) -> Detections:
    _, _, pad_h, pad_w = prepared.tensor.shape
    boxes, scores, landmarks = [], [], []
    for stride in STRIDES:
        cols = pad_w // stride
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
    found = Detections(
        np.concatenate(boxes).astype(np.float32),
        np.concatenate(scores).astype(np.float32),
        np.concatenate(landmarks).astype(np.float32),
    )
    kept = found.take(nms(found.boxes, found.scores, nms_threshold, top_k))
    scale = np.array([prepared.scale_x, prepared.scale_y], np.float32)
    return Detections(kept.boxes / np.tile(scale, 2), kept.scores, kept.landmarks / scale)


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
