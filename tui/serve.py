"""`mnist-tui serve`: the dashboard in a browser through textual-serve, one app process per browser tab.

Safe by default: it listens on loopback only, and every request must carry the session's token (in the URL
it prints, then in a cookie the page keeps), whatever the address: on a shared GPU box the other users can
reach 127.0.0.1 too. A request without it gets 403 and starts no app process. Only the page, its static
files (no folder listings) and the terminal's websocket are served: no file downloads, no shell.
"""

from __future__ import annotations

import asyncio
import getpass
import ipaddress
import secrets
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server

TOKEN_COOKIE = "mnist_tui_token"
TOKEN_PARAMETER = "token"


class ServeError(RuntimeError):
    """The server cannot start; the message says why and what to do."""


def dashboard_command(data_dir: Path, runs_dir: Path, preset: dict[str, Any]) -> str:
    """The command each browser tab runs: this Python's dashboard, on the same folders, with the same preset."""
    options = [
        f"--{name.replace('_', '-')}"
        if value is True
        else f"--no-{name.replace('_', '-')}"
        if value is False
        else f"--{name.replace('_', '-')}={value}"
        for name, value in preset.items()
    ]
    return shlex.join([sys.executable, "-m", "tui", f"--data-dir={data_dir}", f"--runs-dir={runs_dir}", *options])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: only `localhost` is known to stay on this machine
        return False


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound and listening now, so a port in use or a foreign address is said before anything else."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as error:
        raise ServeError(f"cannot resolve --host {host!r} ({error.strerror}): use an address of this machine") from None
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        if error.errno == 98 or "in use" in str(error):  # EADDRINUSE
            raise ServeError(f"port {port} is already in use on {host}: choose another with --port") from None
        raise ServeError(
            f"cannot listen on {host}:{port} ({error.strerror or error}): use an address of this machine,"
            " or leave --host out and reach it through ssh -L"
        ) from None
    listener.listen(128)
    return listener


class DashboardServer(Server):
    """textual-serve's server with a token check in front of every route, and only the routes the page needs."""

    def __init__(self, command: str, host: str, port: int, token: str):
        super().__init__(command, host=host, port=port, title="mnist-tui")
        self.token = token

    @web.middleware
    async def check_token(self, request: web.Request, handler: Any) -> web.StreamResponse:
        given = request.query.get(TOKEN_PARAMETER) or request.cookies.get(TOKEN_COOKIE) or ""
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return web.Response(status=403, text="403: this mnist-tui server needs the token in the URL it printed\n")
        response = await handler(request)
        if request.query.get(TOKEN_PARAMETER) and not response.prepared:
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="Strict")
        return response

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.check_token])
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes(
            [
                web.get("/", self.handle_index, name="index"),
                web.get("/ws", self.handle_websocket, name="websocket"),
                web.static("/static", self.statics_path, show_index=False, name="static"),
            ]
        )
        app.on_shutdown.append(self.on_shutdown)
        return app

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        """The page, with URLs on the address the browser used (behind ssh -L that is localhost, not ours)."""
        origin = request.url.origin()
        socket_scheme = "wss" if origin.scheme == "https" else "ws"
        return {
            "font_size": 16,
            "app_websocket_url": str(origin.with_scheme(socket_scheme).join(request.app.router["websocket"].url_for())),
            "config": {"static": {"url": str(origin.join(request.app.router["static"].url_for(filename="/")))}},
            "application": {"name": self.title},
        }

    def serve_on(self, listener: socket.socket) -> None:
        """Serve until Ctrl+C or SIGTERM, on a socket already bound."""
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, self.request_exit)
        web.run_app(self._make_app(), sock=listener, handle_signals=False, loop=loop, print=None)


def announce(host: str, port: int, token: str) -> str:
    """What to open, and over SSH how to reach it."""
    # Every address (0.0.0.0, ::) is reached by one of them: the machine's name is the one to hand out.
    shown_host = "localhost" if is_loopback(host) else socket.gethostname() if host in ("0.0.0.0", "::") else host
    url = f"http://{shown_host}:{port}/?{TOKEN_PARAMETER}={token}"
    lines = [f"mnist-tui serving the dashboard at {url}", "each browser tab gets its own dashboard; Ctrl+C stops"]
    if is_loopback(host):
        lines.append(
            f"from another machine: ssh -N -L {port}:127.0.0.1:{port} {getpass.getuser()}@{socket.gethostname()}"
            f"  then open http://localhost:{port}/?{TOKEN_PARAMETER}={token}"
        )
    else:
        lines.append(f"listening on {host}: anyone who can reach it needs the token above")
    return "\n".join(lines)


def serve(data_dir: Path, runs_dir: Path, host: str, port: int, token: str | None, preset: dict[str, Any]) -> int:
    token = token or secrets.token_urlsafe(18)
    listener = listening_socket(host, port)
    port = listener.getsockname()[1]  # --port 0 picks a free one
    server = DashboardServer(dashboard_command(data_dir.resolve(), runs_dir.resolve(), preset), host, port, token)
    print(announce(host, port, token), flush=True)
    server.serve_on(listener)
    return 0
