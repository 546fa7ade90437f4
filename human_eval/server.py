"""The annotation web app (`prefbench human serve`): FastAPI pages over the run's bundle.

Annotators sign in with their invite link (`/?token=...`) or their name, read the
instructions, and choose between two blinded candidates item by item. Every choice is
appended to the answers database (source "app"); changing an answer appends another row.
Pages are Jinja2 templates with autoescaping, so email text (which may contain HTML) is
always shown as text. The un-blinding key is never read here. The server binds to
127.0.0.1 unless another host is asked for.
"""

import ipaddress
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.middleware.trustedhost import TrustedHostMiddleware

from human_eval.bundle import Bundle, BundleItem, item_order_for, read_bundle
from human_eval.folder import HumanFolder
from human_eval.store import AnnotationStore

HERE = Path(__file__).parent
SESSION_COOKIE = "prefbench_annotator"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Study:
    """The bundle, each annotator's item order, and the answers database of one run."""

    def __init__(self, bundle: Bundle, store: AnnotationStore) -> None:
        self.bundle = bundle
        self.store = store
        self.items = bundle.items_by_id
        self.orders = {name: item_order_for(bundle, name) for name in bundle.annotator_names}

    def annotator_of_token(self, token: str | None) -> str | None:
        """The annotator an invite token (or session cookie) belongs to, if any."""
        return self.bundle.token_to_annotator.get(token or "")

    def token_of(self, annotator: str) -> str:
        """The invite token of an annotator."""
        return next(a.token for a in self.bundle.manifest.annotators if a.name == annotator)

    def answers(self, annotator: str) -> dict[str, int]:
        """Item id → the annotator's current choice."""
        return {
            item_id: answer.choice
            for (name, item_id), answer in self.store.latest().items()
            if name == annotator and item_id in self.items
        }

    def missing(self, annotator: str) -> list[tuple[int, BundleItem]]:
        """(position, item) of every item the annotator has not answered, in their order."""
        answered = self.answers(annotator)
        return [
            (position, self.items[item_id])
            for position, item_id in enumerate(self.orders[annotator], start=1)
            if item_id not in answered
        ]


def _page(
    templates: Jinja2Templates,
    request: Request,
    name: str,
    context: dict,
    status_code: int = 200,
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def create_app(run_dir: Path, allowed_hosts: list[str] | None = None) -> FastAPI:
    """The annotation app for the bundle of `run_dir` (read once, at creation).

    `allowed_hosts` limits the Host header (against DNS rebinding); None accepts any.
    """
    run_dir = Path(run_dir)
    study = Study(read_bundle(run_dir), AnnotationStore(HumanFolder(run_dir).database))
    environment = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    templates = Jinja2Templates(env=environment)
    total = len(study.bundle.items)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        study.store.close()

    app = FastAPI(
        title="prefbench annotation",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    def forbidden(request: Request, reason: str) -> HTMLResponse:
        return _page(templates, request, "forbidden.html", {"reason": reason}, 403)

    def bad_request(request: Request, reason: str, status_code: int = 400) -> HTMLResponse:
        return _page(
            templates, request, "error.html", {"reason": reason, "status": status_code}, status_code
        )

    def signed_in(request: Request, annotator: str) -> RedirectResponse:
        response = RedirectResponse("/start", status_code=303)
        response.set_cookie(
            SESSION_COOKIE, study.token_of(annotator), httponly=True, samesite="lax", path="/"
        )
        return response

    def base_context(annotator: str) -> dict:
        answered = len(study.answers(annotator))
        return {"annotator": annotator, "answered": answered, "total": total}

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, token: str | None = None) -> Response:
        """Invite links sign in; otherwise the sign-in form (or the study, when signed in)."""
        if token is not None:
            annotator = study.annotator_of_token(token)
            if annotator is None:
                return forbidden(request, "This invite link is not valid for this study.")
            return signed_in(request, annotator)
        if study.annotator_of_token(request.cookies.get(SESSION_COOKIE)) is not None:
            return RedirectResponse("/start", status_code=303)
        return _page(templates, request, "signin.html", {})

    @app.post("/signin")
    def sign_in(request: Request, name: Annotated[str, Form()]) -> Response:
        """Sign in by annotator name (only names listed in the bundle)."""
        if name.strip() not in study.orders:
            return forbidden(request, "This name is not an annotator of this study.")
        return signed_in(request, name.strip())

    @app.post("/signout")
    def sign_out() -> Response:
        """Forget the session cookie."""
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def current(request: Request) -> str | None:
        return study.annotator_of_token(request.cookies.get(SESSION_COOKIE))

    @app.get("/start")
    def start(request: Request) -> Response:
        """Instructions for a new annotator; otherwise resume at the first unanswered item."""
        annotator = current(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        if not study.answers(annotator):
            return RedirectResponse("/instructions", status_code=303)
        missing = study.missing(annotator)
        return RedirectResponse(f"/item/{missing[0][0]}" if missing else "/missing", 303)

    @app.get("/instructions", response_class=HTMLResponse)
    def instructions(request: Request) -> Response:
        """The study's instructions and a link to the first unanswered item."""
        annotator = current(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        missing = study.missing(annotator)
        context = {
            **base_context(annotator),
            "instructions": study.bundle.manifest.instructions,
            "next_position": missing[0][0] if missing else None,
        }
        return _page(templates, request, "instructions.html", context)

    @app.get("/item/{position}", response_class=HTMLResponse)
    def item_page(request: Request, position: int) -> Response:
        """One item: the response email and the two candidates side by side."""
        annotator = current(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        if not 1 <= position <= total:
            return bad_request(request, f"There is no item {position} (items 1 to {total}).", 404)
        item = study.items[study.orders[annotator][position - 1]]
        context = {
            **base_context(annotator),
            "position": position,
            "item": item,
            "choice": study.answers(annotator).get(item.item_id),
        }
        return _page(templates, request, "item.html", context)

    @app.post("/item/{position}")
    def answer(
        request: Request,
        position: int,
        item_id: Annotated[str, Form()],
        choice: Annotated[str, Form()],
    ) -> Response:
        """Append the annotator's choice for the item at `position`, then go to the next."""
        annotator = current(request)
        if annotator is None:
            return forbidden(request, "Sign in with your invite link or name first.")
        if not 1 <= position <= total:
            return bad_request(request, f"There is no item {position} (items 1 to {total}).", 404)
        if study.orders[annotator][position - 1] != item_id:
            return bad_request(request, f"Item {position} is not {item_id!r}: reload the page.")
        if choice not in ("1", "2"):
            return bad_request(request, f"Choice {choice!r} is not candidate 1 or 2.")
        study.store.append(annotator, item_id, int(choice), source="app")
        following = f"/item/{position + 1}" if position < total else "/missing"
        return RedirectResponse(following, status_code=303)

    @app.get("/missing", response_class=HTMLResponse)
    def missing(request: Request) -> Response:
        """The items the annotator has not answered yet, with links."""
        annotator = current(request)
        if annotator is None:
            return RedirectResponse("/", status_code=303)
        context = {**base_context(annotator), "missing": study.missing(annotator)}
        return _page(templates, request, "missing.html", context)

    return app


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine's loopback interface only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(
    run_dir: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> uvicorn.Server:
    """A uvicorn server for the app (not started).

    On an IPv4 loopback host the Host header must name this machine (against DNS
    rebinding); starlette's host check cannot parse bracketed IPv6 hosts, so `::1` has none.
    """
    allowed = ["127.0.0.1", "localhost", host] if is_loopback(host) and ":" not in host else None
    app = create_app(run_dir, allowed_hosts=allowed)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    return uvicorn.Server(config)


def invite_urls(bundle: Bundle, host: str, port: int) -> dict[str, str]:
    """Annotator → invite link (the machine's name stands in for an unspecified address)."""
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return {a.name: f"http://{shown}:{port}/?token={a.token}" for a in bundle.manifest.annotators}


def serve(
    run_dir: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the annotation app until interrupted, after printing each invite link.

    Binds to 127.0.0.1 by default; any other host is reachable from other machines, so a
    warning is printed (the app has no TLS and name sign-in is not a password).
    """
    server = make_server(run_dir, host, port)
    bundle = read_bundle(run_dir)
    if not is_loopback(host):
        announce(
            f"WARNING: serving on {host}, reachable from other machines: anyone who can reach "
            "it and knows an annotator's name can sign in, and traffic is not encrypted."
        )
    for name, url in invite_urls(bundle, host, port).items():
        announce(f"{name}: {url}")
    announce(f"Answers go to {HumanFolder(Path(run_dir)).database}. Stop with Ctrl-C.")
    server.run()
