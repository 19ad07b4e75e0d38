"""Request body limits, answered in the one error shape.

A request whose ``Content-Length`` is over the limit is refused before its body is read. A body
that grows over the limit while it streams in (chunked uploads) is refused as soon as it does: the
413 goes out at once, the application sees the client as gone, and whatever it would still have
answered is dropped.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response


class BodyLimitMiddleware:
    """At most ``upload_bytes`` for paths under ``upload_prefix`` (one prefix or several), ``other_bytes``
    elsewhere."""

    def __init__(self, app: ASGIApp, *, upload_bytes: int, other_bytes: int,
                 upload_prefix: str | tuple[str, ...] = "/ingest/") -> None:
        self.app = app
        self.upload_bytes = upload_bytes
        self.other_bytes = other_bytes
        self.upload_prefix = upload_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if scope.get("path", "").startswith(self.upload_prefix) else self.other_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(limit, scope, receive, send)
            return
        received = 0
        refused = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await self._refuse(limit, scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out already
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    @staticmethod
    async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        size = f"{limit / 1024 / 1024:.1f} MiB" if limit >= 1024 * 1024 else f"{limit:,} bytes"
        response = error_response(413, f"request body too large: at most {size} is accepted here")
        await response(scope, receive, send)
