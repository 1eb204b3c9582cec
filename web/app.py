"""The web app: `create_app()` for uvicorn (`minqing web`, or `uvicorn --factory web.app:create_app`).

Pages are server-rendered Jinja2 in Chinese, work without JavaScript, and are mobile-first.
The app refuses to start without MINQING_SECRET_KEY: it signs the links in mail, the CSRF
tokens and the console's session cookies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from minqing.i18n import _
from minqing.settings import Settings, get_settings
from web import console, links, progress, public
from web.common import Web, web_of
from web.events import drain_events
from web.security import BodyLimitMiddleware, RateLimiter, SecurityHeadersMiddleware, SharedLimits
from web.spool import SpoolWriter
from web.tokens import MIN_SECRET_CHARS

STATIC = Path(__file__).parent / "static"
FORM_OVERHEAD = 64 * 1024  # the text fields that travel with an upload


class MissingSecret(RuntimeError):
    """The web app cannot start without a signing secret."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if settings.secret_key is None:
        raise MissingSecret(
            _(
                "未设置 MINQING_SECRET_KEY：网页的链接、表单和登录都要用它签名。可以这样生成一个："
                'python -c "import secrets; print(secrets.token_urlsafe(48))"'
            )
        )
    secret = settings.secret_key.get_secret_value()
    if len(secret) < MIN_SECRET_CHARS:
        raise MissingSecret(
            _("MINQING_SECRET_KEY 太短：至少需要 %(n)d 个字符") % {"n": MIN_SECRET_CHARS}
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(drain_events)  # submissions announced just before a restart

    app = FastAPI(
        title="民情直通车", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.web = Web(
        settings=settings,
        secret=secret,
        public_limiter=RateLimiter(settings.web_rate_per_minute, 60.0),
        login_limiter=RateLimiter(10, 60.0),
        spool=SpoolWriter(settings),
        progress_limits=SharedLimits(
            settings.rate_limit_storage,
            {"ip": settings.progress_limit_per_ip, "receipt": settings.progress_limit_per_receipt},
        ),
    )
    app.include_router(public.router)
    app.include_router(links.router)
    app.include_router(progress.router)
    app.include_router(console.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/console", status_code=303)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        titles = {
            404: _("页面不存在"),
            405: _("不支持的操作"),
            413: _("内容太大"),
            400: _("请求有误"),
        }
        return web_of(request).error(request, exc.status_code, titles.get(exc.status_code, _("出错了")),
                                     _("请检查链接，或返回上一页重试。"))  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> HTMLResponse:
        return web_of(request).error(
            request, 400, _("请求有误"), _("请检查链接，或返回上一页重试。")
        )

    limit = settings.upload_max_bytes + FORM_OVERHEAD
    web = app.state.web

    async def too_large(scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope)
        mb = max(1, settings.upload_max_bytes // (1024 * 1024))
        response = web.env.get_template("error.html").render(
            office=web.ref.office, request_path=request.url.path, title=_("内容太大"),
            message=_("提交的内容太大（附件不能超过 %(mb)d MB），未保存。请压缩后重试。") % {"mb": mb},
            hint=_("您此前提交的内容不受影响。"),
        )  # fmt: skip
        await HTMLResponse(response, status_code=413)(scope, receive, send)

    app.add_middleware(BodyLimitMiddleware, limit=limit, on_refuse=too_large)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.public_url.startswith("https://"))
    return app
