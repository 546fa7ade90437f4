"""The annotation web app (`prefbench human serve`): FastAPI pages over the run's bundle.

Annotators sign in with their invite link (`/?token=...`) or their name plus invite token,
read the instructions, and choose between two blinded candidates item by item. Every choice
is appended to the answers database (source "app"); changing an answer appends another row.
Pages are Jinja2 templates with autoescaping, so email text (which may contain HTML) is
always shown as text. The un-blinding key is never read here.

What keeps strangers out (human_eval/web_guard.py): each sign-in opens a random server-side
session with an expiry (the invite token never becomes the cookie; signing out revokes the
session); failed sign-ins are throttled; every POST must come from this site (``Origin`` /
``Sec-Fetch-Site``); the Host header must name this server; bodies over a small limit get
413. The server binds to 127.0.0.1 unless another host is asked for explicitly.
"""

import secrets
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.safe_names import visible
from prefbench.human_eval.backup import backup_answers
from prefbench.human_eval.bundle import (
    Bundle,
    BundleItem,
    item_order_for,
    read_bundle,
    restrict_token_files,
)
from prefbench.human_eval.connection_guard import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REQUEST_SECONDS,
    guarded_h11_protocol,
)
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.store import AnnotationStore
from prefbench.human_eval.web_guard import (
    DEFAULT_BODY_LIMIT,
    DEFAULT_SESSION_SECONDS,
    BodyLimit,
    HostGuard,
    SessionStore,
    SignInThrottle,
    allowed_hosts_for,
    cross_site_refusal,
    is_loopback,
)

HERE = Path(__file__).parent


@dataclass(frozen=True)
class ProxySettings:
    """A reverse proxy in front of the server whose forwarding headers are believed.

    `trusted`: the addresses (or ``*``) whose ``X-Forwarded-For`` names the real client,
    uvicorn's `forwarded_allow_ips`.
    """

    trusted: tuple[str, ...] = ("127.0.0.1",)


SESSION_COOKIE = "prefbench_annotator"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on its own
    # form POSTs, which the cross-site check must refuse; other sites still get no referrer
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _file_state(path: Path) -> tuple[int, int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)


class Study:
    """The bundle, each annotator's item order, and the answers database of one run.

    The bundle is read again when `bundle.json` changes on disk (`refresh`), so an
    annotator added by `prefbench human export` while the server runs gets a working invite
    link without a restart. An export in progress (no `bundle.json`, or files that do not
    match yet) keeps the bundle read last.
    """

    def __init__(self, run_dir: Path, store: AnnotationStore) -> None:
        self.run_dir = Path(run_dir)
        self.store = store
        self._bundle_json = HumanFolder(self.run_dir).bundle_json
        self._state = _file_state(self._bundle_json)
        self._use(read_bundle(self.run_dir))

    def _use(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.items = bundle.items_by_id
        self.orders = {name: item_order_for(bundle, name) for name in bundle.annotator_names}

    def refresh(self) -> None:
        """Read the bundle again if `bundle.json` changed since it was read."""
        state = _file_state(self._bundle_json)
        if state is None or state == self._state:
            return
        try:
            bundle = read_bundle(self.run_dir)
        except PrefbenchInputError:
            return  # an export is writing it: keep the bundle read last, try again later
        self._state = state
        self._use(bundle)

    def annotator_of_token(self, token: str | None) -> str | None:
        """The annotator an invite token belongs to, if any."""
        return self.bundle.token_to_annotator.get(token or "")

    def token_matches(self, annotator: str, token: str) -> bool:
        """Whether `token` is the invite token of `annotator` (compared in constant time)."""
        expected = next(
            (a.token for a in self.bundle.manifest.annotators if a.name == annotator), ""
        )
        return bool(expected) and secrets.compare_digest(expected.encode(), token.encode())

    def answers(self, annotator: str) -> dict[str, int]:
        """Item id → the annotator's current choice (store.current_answers' rule)."""
        return {
            item_id: answer.choice
            for (_, item_id), answer in self.store.latest(annotator).items()
            if item_id in self.items
        }

    def missing(self, annotator: str) -> list[tuple[int, BundleItem]]:
        """(position, item) of every item the annotator has not answered, in their order."""
        answered = self.answers(annotator)
        return [
            (position, self.items[item_id])
            for position, item_id in enumerate(self.orders[annotator], start=1)
            if item_id not in answered
        ]


def _storage_refusal(error: sqlite3.OperationalError) -> tuple[int, str]:
    """The status and message for an answer the database could not store.

    507 when the disk (or quota) is full, 503 when the database is busy or cannot be
    written for now; either way the annotator is told the answer was NOT saved.
    """
    code = getattr(error, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or "full" in str(error).lower():
        return 507, (
            "Your answer was NOT saved: the server's disk is full. Tell the study's organizer, "
            "then choose again once they have freed space."
        )
    return 503, (
        f"Your answer was NOT saved: the answers database cannot be written right now "
        f"({error}). Wait a moment and choose again; tell the study's organizer if it persists."
    )


def _page(
    templates: Jinja2Templates,
    request: Request,
    name: str,
    context: dict,
    status_code: int = 200,
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def create_app(
    run_dir: Path,
    allowed_hosts: Iterable[str] | None = None,
    *,
    behind_tls: bool = False,
    session_seconds: float = DEFAULT_SESSION_SECONDS,
    body_limit: int = DEFAULT_BODY_LIMIT,
    throttle: SignInThrottle | None = None,
) -> FastAPI:
    """The annotation app for the bundle of `run_dir` (read once, at creation).

    Args:
        run_dir: The run folder.
        allowed_hosts: Host header names accepted (against DNS rebinding); None accepts any
            (only for tests: :func:`make_server` always passes them).
        behind_tls: The app is reached through a TLS reverse proxy: the session cookie gets
            the Secure flag and a POST's Origin must be https.
        session_seconds: How long a sign-in lasts.
        body_limit: Largest request body in bytes; larger ones get 413.
        throttle: Failed sign-in limits (default: 5 per minute per client and per name).
    """
    run_dir = Path(run_dir)
    study = Study(run_dir, AnnotationStore(HumanFolder(run_dir).database))
    sessions = SessionStore(session_seconds)
    throttle = SignInThrottle() if throttle is None else throttle
    environment = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    templates = Jinja2Templates(env=environment)
    scheme = "https" if behind_tls else "http"

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

    def forbidden(request: Request, reason: str) -> HTMLResponse:
        return _page(templates, request, "forbidden.html", {"reason": reason}, 403)

    def bad_request(request: Request, reason: str, status_code: int = 400) -> HTMLResponse:
        return _page(
            templates, request, "error.html", {"reason": reason, "status": status_code}, status_code
        )

    @app.middleware("http")
    async def guard_posts_and_add_headers(request: Request, call_next: Callable) -> Response:
        study.refresh()
        refusal = cross_site_refusal(
            request.method, request.headers, scheme, request.headers.get("host", "")
        )
        if refusal is not None:
            response: Response = forbidden(request, refusal)
        else:
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    app.add_middleware(BodyLimit, max_bytes=body_limit)
    if allowed_hosts is not None:
        app.add_middleware(HostGuard, allowed=list(allowed_hosts))

    def client_key(request: Request) -> str:
        return f"client:{request.client.host if request.client else 'unknown'}"

    def too_many(request: Request, wait: int) -> HTMLResponse:
        response = bad_request(
            request, f"Too many failed sign-ins: wait {wait} seconds and try again.", 429
        )
        response.headers["Retry-After"] = str(wait)
        return response

    def signed_in(request: Request, annotator: str) -> HTMLResponse:
        """A page that sets the new session's cookie and moves on to /start.

        A page (not a redirect), so that the SameSite=Strict cookie is sent on the next
        request even when the invite link was opened from another site (a mail client).
        """
        response = _page(templates, request, "signed_in.html", {"name": annotator})
        response.set_cookie(
            SESSION_COOKIE,
            sessions.open(annotator),
            max_age=int(session_seconds),
            path="/",
            httponly=True,
            samesite="strict",
            secure=behind_tls,
        )
        return response

    def base_context(annotator: str) -> dict:
        answered = len(study.answers(annotator))
        return {"annotator": annotator, "answered": answered, "total": total()}

    def total() -> int:
        return len(study.bundle.items)

    def current(request: Request) -> str | None:
        """The signed-in annotator, while the bundle (re-exported, maybe) still has them."""
        annotator = sessions.annotator_of(request.cookies.get(SESSION_COOKIE))
        return annotator if annotator in study.orders else None

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, token: str | None = None) -> Response:
        """Invite links sign in; otherwise the sign-in form (or the study, when signed in).

        A valid invite link always signs in: the throttle only slows down wrong ones, so
        failures from a shared address (a proxy, a lab's NAT) never lock anyone out.
        """
        if token is not None:
            annotator = study.annotator_of_token(token)
            if annotator is not None:
                return signed_in(request, annotator)
            keys = [client_key(request)]
            wait = throttle.wait_seconds(keys)
            if wait:
                return too_many(request, wait)
            throttle.failed(keys)
            return forbidden(request, "This invite link is not valid for this study.")
        if current(request) is not None:
            return RedirectResponse("/start", status_code=303)
        return _page(templates, request, "signin.html", {})

    @app.post("/signin")
    def sign_in(
        request: Request, name: Annotated[str, Form()], token: Annotated[str, Form()]
    ) -> Response:
        """Sign in by annotator name plus that annotator's invite token (always, when right)."""
        name, token = name.strip(), token.strip()
        if name in study.orders and study.token_matches(name, token):
            return signed_in(request, name)
        keys = [client_key(request)] + ([f"name:{name}"] if name in study.orders else [])
        wait = throttle.wait_seconds(keys)
        if wait:
            return too_many(request, wait)
        throttle.failed(keys)
        return forbidden(request, "This name and invite token do not match an annotator.")

    @app.post("/signout")
    def sign_out(request: Request) -> Response:
        """End the session on the server and forget the cookie."""
        sessions.revoke(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=behind_tls
        )
        return response

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
        if not 1 <= position <= total():
            return bad_request(request, f"There is no item {position} (items 1 to {total()}).", 404)
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
        """Append the annotator's choice for the item at `position`, then go to the next.

        The redirect is sent only after the row is committed.
        """
        annotator = current(request)
        if annotator is None:
            return forbidden(request, "Sign in with your invite link first.")
        if not 1 <= position <= total():
            return bad_request(request, f"There is no item {position} (items 1 to {total()}).", 404)
        if study.orders[annotator][position - 1] != item_id:
            return bad_request(
                request, f"Item {position} is not {visible(repr(item_id))}: reload the page."
            )
        if choice not in ("1", "2"):
            return bad_request(request, f"Choice {visible(repr(choice))} is not candidate 1 or 2.")
        try:
            study.store.append(annotator, item_id, int(choice), source="app")
        except sqlite3.OperationalError as error:
            status, reason = _storage_refusal(error)
            return bad_request(request, reason, status)
        following = f"/item/{position + 1}" if position < total() else "/missing"
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


def make_server(
    run_dir: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    behind_tls: bool = False,
    extra_hosts: Iterable[str] = (),
    proxy: ProxySettings | None = None,
    request_seconds: float = DEFAULT_REQUEST_SECONDS,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> uvicorn.Server:
    """A uvicorn server for the app (not started).

    The Host header must name this server (:func:`prefbench.human_eval.web_guard.allowed_hosts_for`
    of `host` plus `extra_hosts`) on every bind address, loopback, IPv6 and wildcard alike.
    The client address (what failed sign-ins are counted by) is the socket's peer; only
    with `proxy` are `X-Forwarded-For` / `X-Forwarded-Proto` believed, and only from its
    `trusted` addresses. Each request must arrive whole within `request_seconds`, and at
    most `max_connections` are open at once (`prefbench.human_eval.connection_guard`).
    """
    app = create_app(
        run_dir, allowed_hosts=allowed_hosts_for(host, extra_hosts), behind_tls=behind_tls
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        http=guarded_h11_protocol(request_seconds, max_connections),
        proxy_headers=proxy is not None,
        forwarded_allow_ips=",".join(proxy.trusted) if proxy is not None else None,
    )
    return uvicorn.Server(config)


def invite_urls(bundle: Bundle, host: str, port: int, scheme: str = "http") -> dict[str, str]:
    """Annotator → invite link (the machine's name stands in for an unspecified address)."""
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return {
        a.name: f"{scheme}://{shown}:{port}/?token={a.token}" for a in bundle.manifest.annotators
    }


def reach_notice(host: str, port: int, behind_tls: bool) -> str:
    """Who can reach a server bound to `host`, said plainly."""
    if is_loopback(host):
        proxied = (
            " (and, through your TLS proxy, whoever can reach the proxy)" if behind_tls else ""
        )
        return f"Serving on {host}:{port}: only programs on this machine can reach it{proxied}."
    where = "any address of this machine" if host in ("0.0.0.0", "::") else host
    return (
        f"WARNING: serving on {host}:{port}, reachable by anyone who can reach {where} on "
        f"port {port} (this network, a VPN, the internet if the port is open). They see the "
        "sign-in page; only an invite link, or a name with its invite token, signs in. "
        + (
            "Give annotators your TLS proxy's https address."
            if behind_tls
            else "Traffic is NOT encrypted: put a TLS reverse proxy in front "
            "(docs/human_eval.md) and pass --behind-tls."
        )
    )


def serve(
    run_dir: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    announce: Callable[[str], None] = print,
    *,
    allow_remote: bool = False,
    behind_tls: bool = False,
    extra_hosts: Iterable[str] = (),
    proxy: ProxySettings | None = None,
) -> None:
    """Serve the annotation app until interrupted, after printing each invite link.

    Binds to 127.0.0.1 by default. Any other host is reachable from other machines, so it
    needs `allow_remote` and the notice says who can reach it. When the answers database
    exists, a snapshot of it goes to ``human/backups/`` first. `bundle.json` and
    `key.json` are made readable by their owner only (bundles exported before 0600).
    `proxy`: see :func:`make_server`.

    Raises:
        PrefbenchInputError: A non-loopback `host` without `allow_remote`.
    """
    if not is_loopback(host) and not allow_remote:
        raise PrefbenchInputError(
            f"--host {host} is reachable from other machines: pass --allow-remote as well "
            "to serve there (and read docs/human_eval.md on TLS), or keep the default "
            f"--host {DEFAULT_HOST}"
        )
    folder = HumanFolder(Path(run_dir))
    for path in restrict_token_files(run_dir):
        announce(f"{path} held invite tokens readable by other users: now owner-only (0600)")
    if folder.database.is_file():
        snapshot = backup_answers(run_dir, reason="serve")
        announce(f"Snapshot of {snapshot.answers} answers: {snapshot.path}")
    server = make_server(
        run_dir, host, port, behind_tls=behind_tls, extra_hosts=extra_hosts, proxy=proxy
    )
    bundle = read_bundle(run_dir)
    announce(reach_notice(host, port, behind_tls))
    for name, url in invite_urls(bundle, host, port).items():
        announce(f"{name}: {url}")
    announce(f"Answers go to {folder.database}. Stop with Ctrl-C.")
    server.run()
