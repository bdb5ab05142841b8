"""The session cookie is ``Secure`` whenever the request came over https.

"Came over https" means the connection itself, or ``X-Forwarded-Proto: https`` from a
proxy listed in ``STAGEHOOK_TRUSTED_PROXIES`` (uvicorn's ProxyHeadersMiddleware, run
first, rewrites the scheme only for those). ``STAGEHOOK_COOKIE_SECURE`` forces the flag.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SecureCookies:
    def __init__(self, app: ASGIApp, *, force: bool) -> None:
        self.app = app
        self.force = force

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (self.force or scope.get("scheme") == "https"):
            await self.app(scope, receive, send)
            return

        async def secure_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                cookies = headers.getlist("set-cookie")
                if cookies:
                    del headers["set-cookie"]
                    for cookie in cookies:
                        flagged = "; secure" in cookie.lower()
                        headers.append("set-cookie", cookie if flagged else cookie + "; secure")
            await send(message)

        await self.app(scope, receive, secure_send)
