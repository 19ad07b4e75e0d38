"""One JSON error shape for every 4xx and 5xx, and the table from domain errors to HTTP statuses.

Every error response is ``{"code": ..., "message": ..., "details": [...]}`` with
``Content-Type: application/json``. Messages say what the user can change; they never carry a stack
trace, SQL or a server path. Anything unexpected is logged with its traceback (and the request id)
and answered with a generic 500 (:func:`log_unexpected`; a console page answers it as a page, see
api/routers/console.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.patterns import parameter_message
from coverage.errors import ConfigError, NotFoundError, ValidationError, Village5gError
from coverage.limits import LimitError

log = logging.getLogger("village5g.error")

#: What a person reads of an unexpected failure (a 500's message, a failed job's error).
INTERNAL_MESSAGE = "服务器内部错误，详情见服务器日志 (internal error; the server log has the details)"

#: Machine-readable ``code`` of each status.
STATUS_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "invalid_input", 429: "too_many_requests", 500: "internal_error", 503: "unavailable",
}

#: Domain exceptions and the status each becomes (the first matching class wins).
DOMAIN_STATUS: tuple[tuple[type[Village5gError], int], ...] = (
    (ValidationError, 422),
    (NotFoundError, 404),
    (ConfigError, 400),
    (Village5gError, 409),
)


class ErrorBody(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "code": "not_found", "message": "分析运行 7 不存在 (run 7 does not exist)", "details": []}})

    code: str = Field(description="Stable machine-readable error code, e.g. `not_found`, `invalid_input`.")
    message: str = Field(description="What went wrong, for people.")
    details: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Itemised findings: for rejected files `file`, `row`, `field`, `message`; for bad "
                    "parameters `location` and `message`.")


class ApiError(Exception):
    """An error the API answers on purpose, with its status and public message."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 details: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or STATUS_CODES.get(status, "error")
        self.message = message
        self.details = details or []
        self.headers = headers


def error_response(status: int, message: str, *, code: str | None = None,
                   details: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error shape as a response."""
    return ErrorAnswer.of(status, message, code=code, details=details, headers=headers).response()


@dataclass(frozen=True)
class ErrorAnswer:
    """What the API answers an error with: its status, body and headers (the console's pages show the
    same as a page: api/routers/console.py)."""

    status: int
    body: ErrorBody
    headers: dict[str, str] | None = None

    @classmethod
    def of(cls, status: int, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None,
           headers: dict[str, str] | None = None) -> ErrorAnswer:
        body = ErrorBody(code=code or STATUS_CODES.get(status, "error"), message=message, details=details or [])
        return cls(status, body, headers)

    def response(self) -> JSONResponse:
        """The answer as the API's JSON."""
        return JSONResponse(self.body.model_dump(), status_code=self.status, headers=self.headers)


def domain_error_answer(exc: Village5gError) -> ErrorAnswer:
    """A domain exception as its HTTP error; a rejected file lists every problem found."""
    status = next(code for cls, code in DOMAIN_STATUS if isinstance(exc, cls))
    details: list[dict[str, Any]] = []
    message = str(exc)
    if isinstance(exc, ValidationError):
        details = [{"file": p.file, "row": p.row, "field": p.field, "message": p.message} for p in exc.problems]
        n = len(exc.problems)
        message = (f"发现 {n} 个问题，未存储任何数据 ({n} problem(s) found; nothing was stored)" if exc.problems
                   else "输入被拒绝，未存储任何数据 (the input was rejected; nothing was stored)")
    if isinstance(exc, LimitError):  # the limit, its setting and the amount asked for, in the message
        return ErrorAnswer.of(status, exc.message_done(), code="limit_exceeded", details=details)
    return ErrorAnswer.of(status, message, details=details)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _validation_answer(request: Request, exc: RequestValidationError) -> ErrorAnswer:
    details = []
    for err in exc.errors():
        # Chinese first; a pattern mismatch says what the value should be, not the expression
        message = parameter_message(str(err.get("type")), str(err.get("msg", "invalid")), err.get("ctx"))
        details.append({"location": _location(err.get("loc", ())), "message": message})
    first = details[0] if details else {"location": "request", "message": "invalid"}
    # the console shows every detail's message instead of one that starts so (api/static/console/console.js)
    message = f"参数 {first['location']} 无效：{first['message']} (invalid {first['location']})"
    return ErrorAnswer.of(400, message, code="invalid_parameter", details=details)


def _http_answer(request: Request, exc: StarletteHTTPException) -> ErrorAnswer:
    messages = {404: "没有这个资源 (no such resource)",
                405: "此资源不支持该请求方法 (method not allowed for this resource)",
                413: "请求体过大 (request body too large)"}
    detail = exc.detail if isinstance(exc.detail, str) and exc.status_code not in messages else None
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405 and (methods := allowed_methods(request)):
        headers = {**(headers or {}), "Allow": ", ".join(methods)}
    return ErrorAnswer.of(exc.status_code, detail or messages.get(exc.status_code, "请求失败 (request failed)"),
                          headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method the API documents at the request's path (Starlette's 405 names only the first
    matching route's, so OPTIONS /runs said GET though POST /runs exists)."""
    table = getattr(request.app.state, "allowed_methods", None)
    if table is None:
        table = []
        for template, operations in request.app.openapi().get("paths", {}).items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            table.append((re.compile(f"^{pattern}$"), {m.upper() for m in operations if m != "parameters"}))
        request.app.state.allowed_methods = table
    methods: set[str] = set()
    for pattern, verbs in table:
        if pattern.match(request.url.path):
            methods |= verbs
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def error_answer(request: Request, exc: Exception) -> ErrorAnswer | None:
    """What the API answers ``exc`` with: a bad parameter, an HTTP error, an :class:`ApiError` or a domain
    error; None for anything else (unexpected: :class:`CatchAllMiddleware` answers it with a 500)."""
    if isinstance(exc, RequestValidationError):
        return _validation_answer(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return _http_answer(request, exc)
    if isinstance(exc, ApiError):
        return ErrorAnswer.of(exc.status, exc.message, code=exc.code, details=exc.details, headers=exc.headers)
    if isinstance(exc, Village5gError):
        return domain_error_answer(exc)
    return None


async def _handler(request: Request, exc: Exception) -> JSONResponse:
    answer = error_answer(request, exc)
    assert answer is not None
    return answer.response()


def install_error_handlers(app: FastAPI) -> None:
    """Route every error to the one shape; :class:`CatchAllMiddleware` takes what nothing else does."""
    for kind in (RequestValidationError, StarletteHTTPException, ApiError, Village5gError):
        app.add_exception_handler(kind, _handler)


class CatchAllMiddleware:
    """Answer an unexpected exception with a generic 500 in the error shape, and log it in full.

    A pure ASGI middleware (inside the access log, outside the routes) so the exception stops here
    instead of reaching the server, and the response carries nothing of its text.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            request_id = log_unexpected(scope)
            if started:
                raise
            rid = (f"（请求 {request_id}）", f" (request {request_id})") if request_id else ("", "")
            response = error_response(500, f"服务器内部错误，详情见服务器日志{rid[0]} "
                                           f"(internal error; the server log has the details{rid[1]})")
            await response(scope, receive, send)


def log_unexpected(scope: Scope) -> str | None:
    """Log the exception being handled, unexpected in answering the request of ``scope``, with its traceback
    and the request id (:class:`api.logs.AccessLogMiddleware`'s); the id, None without one."""
    request_id: str | None = scope.get("state", {}).get("request_id")
    log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"), extra={"request_id": request_id})
    return request_id
