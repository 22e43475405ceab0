"""Real servers on 127.0.0.1 for the notification tests.

- DingTalkRobot checks signatures the way DingTalk documents it (timestamp within an hour,
  sign = base64(HMAC-SHA256(secret, "timestamp\\nsecret"))), written independently of the client.
- SlackHook records incoming-webhook posts; it can be made to fail or to answer slowly.
- GitLabStandIn is a stand-in for the few GitLab REST endpoints the notifier uses (user, commit
  statuses, MRs of a commit, MR notes); it is not GitLab, and keeps notes in memory.
- SmtpSink is aiosmtpd, a real SMTP server, recording messages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from aiosmtpd.controller import Controller


class _Server:
    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.handle(self, "GET")

            def do_POST(self) -> None:
                owner.handle(self, "POST")

            def do_PUT(self) -> None:
                owner.handle(self, "PUT")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError

    @staticmethod
    def body(request: BaseHTTPRequestHandler) -> bytes:
        return request.rfile.read(int(request.headers.get("Content-Length") or 0))

    @staticmethod
    def reply(
        request: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            request.send_header(key, value)
        request.end_headers()
        request.wfile.write(data)


class DingTalkRobot(_Server):
    def __init__(self, secret: str, access_token: str, *, per_window: int = 20, window: float = 60.0) -> None:
        super().__init__()
        self.secret, self.access_token = secret, access_token
        self.messages: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self.per_window, self.window = per_window, window  # DingTalk: 20 messages a minute per robot
        self.accepted_at: list[float] = []

    @property
    def webhook(self) -> str:
        return f"{self.url}/robot/send?access_token={self.access_token}"

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        body = json.loads(self.body(request))
        if query.get("access_token") != [self.access_token]:
            self.rejected.append("token")
            return self.reply(request, 200, {"errcode": 300001, "errmsg": "token is not exist"})
        stamp, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
        expected = base64.b64encode(
            hmac.new(self.secret.encode("utf-8"), f"{stamp}\n{self.secret}".encode(), hashlib.sha256).digest()
        ).decode()
        fresh = stamp.isdigit() and abs(time.time() * 1000 - int(stamp)) < 3600 * 1000
        if not fresh or not hmac.compare_digest(sign, expected):
            self.rejected.append("sign")
            return self.reply(request, 200, {"errcode": 310000, "errmsg": "sign not match"})
        now = time.monotonic()
        recent = [t for t in self.accepted_at if now - t < self.window]
        if len(recent) >= self.per_window:
            self.rejected.append("too fast")
            return self.reply(request, 200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
        self.accepted_at = [*recent, now]
        self.messages.append(body)
        return self.reply(request, 200, {"errcode": 0, "errmsg": "ok"})


class SlackHook(_Server):
    def __init__(self, mode: str = "ok", delay: float = 0.0) -> None:
        super().__init__()
        self.mode, self.delay = mode, delay
        self.messages: list[dict[str, Any]] = []

    @property
    def webhook(self) -> str:
        return f"{self.url}/services/T000/B000/hook-secret-XYZ"

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        body = json.loads(self.body(request))
        if self.delay:
            time.sleep(self.delay)
        if self.mode == "down":
            return self.reply(request, 500, b"internal_error")
        if self.mode == "trickle":  # headers at once, then one byte a second: no read ever times out
            request.send_response(200)
            request.send_header("Content-Length", "120")
            request.end_headers()
            for _ in range(120):
                try:
                    request.wfile.write(b"o")
                    request.wfile.flush()
                except OSError:
                    return None
                time.sleep(1)
            return None
        self.messages.append(body)
        return self.reply(request, 200, b"ok")


class TrickleSite(_Server):
    """A deployed app that answers one byte a second, its status line included: a client's read timeout
    never fires, and the answer takes minutes."""

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + b" " * 100
        for byte in answer:
            try:
                request.wfile.write(bytes([byte]))
                request.wfile.flush()
            except OSError:
                return
            time.sleep(1)


class HealthSite(_Server):
    """An app behind a cluster's ingress: answers its health path with the next of ``statuses`` (the last one
    from then on), recording each request's Host header and path. ``tls``: (certificate, key) files to serve
    HTTPS with, as an ingress controller terminating TLS does."""

    def __init__(self, *statuses: int, tls: tuple[str, str] | None = None) -> None:
        super().__init__()
        self.statuses = list(statuses) or [200]
        self.requests: list[tuple[str, str]] = []
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        self.requests.append((request.headers.get("Host", ""), request.path))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        self.reply(request, status, b"ok" if status < 300 else b"unhealthy")


@dataclass
class Note:
    id: int
    body: str
    author: str


@dataclass
class GitLabState:
    bot: str = "gitops-bot"
    notes: dict[int, list[Note]] = field(default_factory=dict)  # by MR iid
    statuses: list[dict[str, Any]] = field(default_factory=list)
    mrs_of_commit: dict[str, list[int]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    rate_limited: bool = False  # answer every call 429, Retry-After: 30
    mr_authors: dict[int, str] = field(default_factory=dict)  # by MR iid; "dev1" when not named


class GitLabStandIn(_Server):
    """Stand-in for the GitLab REST endpoints the notifier calls (see the module docstring)."""

    def __init__(self, token: str, project: str) -> None:
        super().__init__()
        self.token, self.project = token, project
        self.state = GitLabState()
        self._next = 100

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(request.path).path)
        self.state.requests.append((method, path))
        if request.headers.get("PRIVATE-TOKEN") != self.token:
            return self.reply(request, 401, {"message": "401 Unauthorized"})
        if self.state.rate_limited:
            return self.reply(request, 429, {"message": "429 Too Many Requests"}, {"Retry-After": "30"})
        project = re.escape(self.project)
        if method == "GET" and path == "/api/v4/user":
            return self.reply(request, 200, {"id": 1, "username": self.state.bot})
        if m := re.fullmatch(rf"/api/v4/projects/{project}/statuses/(\w+)", path):
            status = {**json.loads(self.body(request)), "sha": m[1]}
            self.state.statuses.append(status)
            return self.reply(request, 201, status)
        if m := re.fullmatch(rf"/api/v4/projects/{project}/repository/commits/(\w+)/merge_requests", path):
            return self.reply(request, 200, [{"iid": i} for i in self.state.mrs_of_commit.get(m[1], [])])
        if method == "GET" and (m := re.fullmatch(rf"/api/v4/projects/{project}/merge_requests/(\d+)", path)):
            iid = int(m[1])
            return self.reply(
                request, 200, {"iid": iid, "author": {"username": self.state.mr_authors.get(iid, "dev1")}}
            )
        if m := re.fullmatch(rf"/api/v4/projects/{project}/merge_requests/(\d+)/notes", path):
            notes = self.state.notes.setdefault(int(m[1]), [])
            if method == "GET":
                payload = [{"id": n.id, "body": n.body, "author": {"username": n.author}} for n in notes]
                return self.reply(request, 200, payload, {"X-Total-Pages": "1", "X-Page": "1"})
            self._next += 1
            note = Note(self._next, json.loads(self.body(request))["body"], self.state.bot)
            notes.append(note)
            return self.reply(request, 201, {"id": note.id, "body": note.body, "author": {"username": note.author}})
        if m := re.fullmatch(rf"/api/v4/projects/{project}/merge_requests/(\d+)/notes/(\d+)", path):
            for note in self.state.notes.get(int(m[1]), []):
                if note.id == int(m[2]) and method == "PUT":
                    if note.author != self.state.bot:
                        return self.reply(request, 403, {"message": "403 Forbidden"})
                    note.body = json.loads(self.body(request))["body"]
                    return self.reply(request, 200, {"id": note.id, "body": note.body})
        return self.reply(request, 404, {"message": "404 Not Found"})


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


class SmtpSink:
    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.recorder = _Recorder()
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[Message]:
        return self.recorder.messages

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
