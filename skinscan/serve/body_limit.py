"""Refuse request bodies over a limit while they stream in, before they are spooled anywhere."""

from __future__ import annotations

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyTooLarge", "RequestBodyLimit"]


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once the body passes the limit (FastAPI answers it with 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=_detail(limit))


def _detail(limit: int) -> dict[str, str]:
    return {
        "code": "file_too_large",
        "message": f"the request body is larger than the limit of {limit} bytes",
    }


class RequestBodyLimit:
    """ASGI middleware: 413 for a body larger than ``max_bytes``.

    A declared ``Content-Length`` over the limit is answered before anything is read; a body
    without one (chunked) is counted as it arrives and cut off at the limit, so an oversized
    upload is never read, into memory or to disk, beyond the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse({"detail": _detail(self.max_bytes)}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0
        started = False

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive_limited, send_tracking)
        except BodyTooLarge:
            if started:
                raise
            response = JSONResponse({"detail": _detail(self.max_bytes)}, status_code=413)
            await response(scope, receive, send)
