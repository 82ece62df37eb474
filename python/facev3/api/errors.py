"""The API's typed error: a status, a stable machine-readable code and a message for people.
Only this layer chooses HTTP statuses; core errors carry their code and are mapped here
(CALL_ERRORS). Every code is listed, with its status, in the README's error table."""

from facev3.core.errors import BackendUnavailable, CallError, DeadlineExceeded, TooManyFacesInCall


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, retry_after: int | None = None, headers: tuple = ()
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = ((("retry-after", str(retry_after)),) if retry_after else ()) + headers


# A failed pipeline call -> (status, Retry-After seconds or None).
CALL_ERRORS: dict[type[CallError], tuple[int, int | None]] = {
    BackendUnavailable: (503, 2),
    DeadlineExceeded: (503, 1),
    TooManyFacesInCall: (413, None),
}


def from_call_error(error: CallError) -> ApiError:
    status, retry_after = CALL_ERRORS[type(error)]
    return ApiError(status, error.code, error.message, retry_after)
