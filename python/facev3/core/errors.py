"""Typed errors of the face pipeline. Each has a stable `code`; the HTTP layer chooses statuses."""


class CodedError(Exception):
    """Base class: each subclass's `code` is stable and machine-readable, the message is for people."""

    code: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FaceError(CodedError):
    """One image cannot give faces; the other images of its call go on."""

    code = "face_error"


class UnsupportedFormat(FaceError):
    code = "unsupported_format"


class CorruptImage(FaceError):
    code = "corrupt_image"


class ImageTooLarge(FaceError):
    code = "image_too_large"


class ImageTooSmall(FaceError):
    code = "image_too_small"


class TooManyFaces(FaceError):
    """An image holds more faces than one image may give (ask for the largest with max_faces)."""

    code = "too_many_faces"


class ModelUnavailable(Exception):
    """A model's file is not here (a missing file or package): it stops the start, it is never
    an answer to a request."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CallError(CodedError):
    """A whole pipeline call fails (not one image of it)."""

    code = "call_error"


class BackendUnavailable(CallError):
    """The inference backend cannot answer (Triton down, a model not ready, a timeout). No fault
    of the images: the HTTP layer answers 503 with Retry-After."""

    code = "backend_unavailable"


class DeadlineExceeded(CallError):
    """The call ran past its deadline; it stopped before the next image."""

    code = "deadline_exceeded"


class TooManyFacesInCall(CallError):
    """The images of one call hold more faces than a call may embed."""

    code = "too_many_faces"
