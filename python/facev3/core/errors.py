"""Typed errors of the face pipeline. Each has a stable `code`; the HTTP layer chooses statuses."""


class FaceError(Exception):
    """Base class: `code` is stable and machine-readable, the message is for people."""

    code = "face_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedFormat(FaceError):
    code = "unsupported_format"


class CorruptImage(FaceError):
    code = "corrupt_image"


class ImageTooLarge(FaceError):
    code = "image_too_large"


class ImageTooSmall(FaceError):
    code = "image_too_small"


class ModelUnavailable(FaceError):
    """A model file is missing from its wheel, or does not match its recorded sha256."""

    code = "model_unavailable"


class BackendUnavailable(Exception):
    """The inference backend cannot answer (Triton down, a model not ready, a timeout). Not a
    FaceError: it is no fault of the image, and the HTTP layer answers 503 with Retry-After."""

    code = "backend_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
