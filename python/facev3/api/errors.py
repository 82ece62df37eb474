"""The API's typed error: a status, a stable machine-readable code and a message for people.
Only this layer chooses HTTP statuses; core errors carry their code and are mapped here."""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after
