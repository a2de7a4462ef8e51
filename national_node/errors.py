"""The one error the node answers with: a status, a stable code and a sentence saying what was wrong."""

from __future__ import annotations


class Rejected(Exception):
    """A request the node refuses; rendered as `{"error": code, "detail": detail, ...extra}`."""

    def __init__(self, status: int, code: str, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra

    def body(self) -> dict:
        return {"error": self.code, "detail": self.detail, **self.extra}
