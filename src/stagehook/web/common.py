"""What every UI route shares: sessions, CSRF, rendering and error pages.

The UI is a thin skin over the store, like the REST API: routes call the same service
functions and show a ``StagehookError``'s message to the person who caused it. Pages
render HTML; the few endpoints the editor calls with ``fetch`` answer JSON in the API's
error shape, chosen by the ``Accept`` header.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError

from stagehook import __version__
from stagehook.api.deps import SAFE_METHODS, carries_session_csrf, get_store
from stagehook.api.errors import describe_validation, problem
from stagehook.errors import (
    Forbidden,
    InvalidInput,
    StagehookError,
    TooManyRequests,
    Unauthorized,
)
from stagehook.inputs import check_text
from stagehook.store import sessions
from stagehook.store.access import Principal, require_admin
from stagehook.store.context import Store
from stagehook.store.outbox.records import DeliveryStatus

M = TypeVar("M", bound=BaseModel)
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
#: How many items a pick list offers; a deployment with more picks by hash through the API.
CHOICES = 500


def content_security_policy(
    media_origins: Sequence[str] = (), *, style_attributes: bool = False
) -> str:
    """Pages only load what stagehook serves itself; nothing inline runs, nothing frames us.

    The labeling editor also shows images from the configured media origins, and lets
    its vendored annotation library colour shapes through ``style`` attributes (no
    ``<style>`` elements, no scripts: ``style-src-attr`` only).
    """
    images = " ".join(["'self'", "data:", "blob:", *media_origins])
    attributes = " style-src-attr 'unsafe-inline';" if style_attributes else ""
    return (
        f"default-src 'self'; img-src {images}; style-src 'self';{attributes} script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


SECURITY_HEADERS = {
    "content-security-policy": content_security_policy(),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


class SignInRequired(Unauthorized):
    """No (valid) session: pages redirect to the sign-in page, fetch() gets a 401."""


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def same_site_path(target: str, fallback: str) -> str:
    """``target`` if it is a path on this site, else ``fallback``: no open redirects.

    ``//host`` and ``/\\host`` are refused: browsers read both as another site.
    """
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return fallback


def parse_utc(value: str, field: str) -> float | None:
    """``datetime-local`` values carry no zone; the page labels them UTC."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{field} is not a date and time like 2024-03-25T15:18") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def validated(model: type[M], data: Any) -> M:
    """Build a pydantic model, turning its errors into the domain's InvalidInput."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation(exc.errors())) from exc


def _error_response(request: Request, exc: StagehookError) -> Response:
    response = _error_body(request, exc)
    if isinstance(exc, TooManyRequests):
        response.headers["retry-after"] = str(exc.retry_after)
    return response


def _error_body(request: Request, exc: StagehookError) -> Response:
    if isinstance(exc, SignInRequired):
        if wants_json(request):
            return problem(401, exc.code, exc.message)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)
    if wants_json(request):
        return problem(exc.status, exc.code, exc.message)
    return render(request, "error.html", status=exc.status, error=exc)


class WebRoute(APIRoute):
    """Turns domain errors into an error page (or JSON) and adds security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except StagehookError as exc:
                response = _error_response(request, exc)
            except RequestValidationError as exc:
                invalid = InvalidInput(describe_validation(exc.errors()))
                response = _error_response(request, invalid)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return route


def web_router() -> APIRouter:
    """Every UI router: error pages, security headers, CSRF on unsafe methods."""
    return APIRouter(
        route_class=WebRoute, dependencies=[Depends(check_csrf)], include_in_schema=False
    )


# ------------------------------------------------------------------ session and CSRF
def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Every unsafe request carries the session's token, as a form field or a header.

    Form fields also pass the one text rule the API applies (no NUL, no lone surrogate),
    so no form can store what the API would refuse.
    """
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token")
    content_type = request.headers.get("content-type", "")
    is_form = content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
    form = await request.form() if is_form else None
    if sent is None and form is not None:
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not carries_session_csrf(request, sent):
        raise Forbidden(
            "this form has expired or did not come from a stagehook page; "
            "reload the page and try again"
        )
    for name, value in form.multi_items() if form is not None else ():
        if isinstance(value, str):
            check_text(value, f"the form field {name[:40]!r}")


def client_address(request: Request) -> str | None:
    """The peer, or the client a trusted proxy names (ProxyHeadersMiddleware did that)."""
    return request.client.host if request.client else None


def sign_in(request: Request, store: Store, principal: Principal, key_id: str | None) -> None:
    """A fresh server-side session (and CSRF token): nothing of a previous one carries over."""
    token = sessions.start_session(
        store,
        principal,
        key_id=key_id,
        address=client_address(request),
        user_agent=request.headers.get("user-agent"),
    )
    request.session.clear()
    request.session["sid"] = token
    request.session["csrf"] = secrets.token_urlsafe(32)


def sign_out(request: Request, store: Store) -> None:
    token = request.session.get("sid")
    if isinstance(token, str):
        sessions.end_session(store, token)
    request.session.clear()


def signed_in(request: Request, store: Annotated[Store, Depends(get_store)]) -> Principal:
    token = request.session.get("sid")
    if not isinstance(token, str):
        raise SignInRequired("sign in first")
    resolved = sessions.resolve_session(store, token)
    if resolved is None:
        request.session.clear()
        raise SignInRequired("your session has ended; sign in again")
    request.state.user = resolved.principal
    request.state.session_id = resolved.session_id
    return resolved.principal


def signed_in_admin(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
    return require_admin(principal)


StoreDep = Annotated[Store, Depends(get_store)]
WebUser = Annotated[Principal, Depends(signed_in)]
WebAdmin = Annotated[Principal, Depends(signed_in_admin)]
#: A form field: every text a form sends is bounded.
Text = Annotated[str, Form(max_length=2048)]


# ------------------------------------------------------------------ rendering
def flash(request: Request, text: str, kind: str = "ok") -> None:
    messages = list(request.session.get("flash", []))
    messages.append([kind, text])
    request.session["flash"] = messages[-5:]


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def render(request: Request, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    context.update(
        user=getattr(request.state, "user", None),
        csrf=csrf_token(request),
        flashes=request.session.pop("flash", []),
        version=__version__,
    )
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status)


def _when(value: float | None) -> str:
    if value is None:
        return "—"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(value: str | None) -> str:
    return (value or "")[:8]


TEMPLATES.env.filters["when"] = _when
TEMPLATES.env.filters["short"] = _short
TEMPLATES.env.globals["DeliveryStatus"] = DeliveryStatus
