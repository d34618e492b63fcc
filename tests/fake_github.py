"""A fake of GitHub's REST API on 127.0.0.1, for the client's tests: never the internet.

It serves the endpoints datastore/github_api.py calls from people's documents (the format
of datastore/github_history.py, the demo fixture's), the way GitHub does: ``Link``
pagination with absolute URLs, ETags and 304s that spend no rate limit, ``X-RateLimit-*``
headers per resource, 403 when a limit is spent, a secondary limit with ``Retry-After``,
404 for an unknown user (422 from search), 401 without a valid token, and GitHub App
installation tokens for a JWT signed by the app's key. Faults (a status, a delay) are set
per path pattern by the test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from datastore.github_history import Documents

TOKEN = "ghp_fake_test_token_0123456789"
LIMITS = {"core": 5000, "search": 30}


@dataclass
class Fault:
    pattern: str  # a regular expression the path (with its query) must match
    status: int = 502
    times: int | None = None  # None: every time
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "fault"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    status: int
    conditional: bool  # it carried If-None-Match


@dataclass
class FakeGitHub:
    users: dict[str, Documents] = field(default_factory=dict)
    url: str = ""
    tokens: set[str] = field(default_factory=lambda: {TOKEN})
    app_id: str | None = None
    app_public_key: str | None = None
    installation_id: str = "4242"
    installation_token_seconds: int = 3600
    issued: list[str] = field(default_factory=list)
    remaining: dict[str, int] = field(default_factory=lambda: dict(LIMITS))
    reset_at: int = field(default_factory=lambda: int(time.time()) + 3600)
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_to(self, pattern: str) -> list[Seen]:
        return [s for s in self.seen if re.search(pattern, s.path)]

    def spent(self) -> int:
        """Requests that spent rate limit (not 304s, not refused)."""
        return sum(1 for s in self.seen if s.status == 200)

    # The app

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/app/installations/{installation}/access_tokens", self._installation_token,
                  methods=["POST"]),
            Route("/{path:path}", self._get, methods=["GET"]),
        ])

    async def _installation_token(self, request: Request) -> Response:
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return _json({"message": "A JSON web token is required"}, 401)
        try:
            claims = jwt.decode(bearer, self.app_public_key or "", algorithms=["RS256"])
        except jwt.PyJWTError:
            return _json({"message": "A JSON web token could not be decoded"}, 401)
        if str(claims.get("iss")) != self.app_id \
                or request.path_params["installation"] != self.installation_id:
            return _json({"message": "Integration not found"}, 404)
        token = f"ghs_installation_{len(self.issued)}"
        with self.lock:
            self.issued.append(token)
            self.tokens.add(token)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.installation_token_seconds)
        return _json({"token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}, 201)

    async def _get(self, request: Request) -> Response:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            with self.lock:
                self.in_flight -= 1

    async def _answer(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        query = dict(request.query_params)
        full = path + ("?" + request.url.query if request.url.query else "")
        resource = "search" if path.startswith("/search/") else "core"
        conditional = "if-none-match" in request.headers

        def answer(response: Response) -> Response:
            with self.lock:
                self.seen.append(Seen("GET", path, query, response.status_code, conditional))
            return response

        fault = self._fault(full)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status != 200:
                return answer(_json({"message": fault.message}, fault.status, fault.headers))
        if _token_of(request) not in self.tokens:
            return answer(_json({"message": "Bad credentials"}, 401))
        if self.remaining[resource] <= 0:
            return answer(_json({"message": "API rate limit exceeded"}, 403,
                                self._limits(resource)))
        status, body, link = self._route(path, query, request)
        payload = json.dumps(body, sort_keys=True).encode()
        etag = '"' + hashlib.sha1(payload, usedforsecurity=False).hexdigest() + '"'
        if status == 200 and request.headers.get("if-none-match") == etag:
            # GitHub: a 304 to a conditional request does not count against the limit.
            return answer(Response(status_code=304, headers={"ETag": etag,
                                                             **self._limits(resource)}))
        with self.lock:
            self.remaining[resource] -= 1
        headers = {**self._limits(resource), "ETag": etag,
                   "Cache-Control": "private, max-age=60, s-maxage=60"}
        if link:
            headers["Link"] = link
        return answer(Response(payload, status, headers=headers,
                               media_type="application/json; charset=utf-8"))

    def _fault(self, full: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if re.search(fault.pattern, full) and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _limits(self, resource: str) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(LIMITS[resource]),
                "X-RateLimit-Remaining": str(max(0, self.remaining[resource])),
                "X-RateLimit-Reset": str(self.reset_at), "X-RateLimit-Resource": resource}

    def _route(self, path: str, query: dict[str, str], request: Request
               ) -> tuple[int, Any, str | None]:
        not_found = (404, {"message": "Not Found"}, None)
        if m := re.fullmatch(r"/users/([^/]+)", path):
            docs = self.users.get(m.group(1))
            return (200, docs.get("user") or {"login": m.group(1)}, None) if docs is not None \
                else not_found
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/commits/([0-9a-f]+)", path):
            for docs in self.users.values():
                if (found := (docs.get("commitDetails") or {}).get(m.group(2))) is not None:
                    return 200, found, None
            return not_found
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/languages", path):
            for docs in self.users.values():
                if (found := (docs.get("languages") or {}).get(m.group(1))) is not None:
                    return 200, found, None
            return not_found
        if path in ("/search/commits", "/search/issues"):
            return self._search(path, query, request)
        return not_found

    def _search(self, path: str, query: dict[str, str], request: Request
                ) -> tuple[int, Any, str | None]:
        terms = dict(t.split(":", 1) for t in query.get("q", "").split() if ":" in t
                     and not t.startswith("-"))
        person = terms.get("author") or terms.get("reviewed-by") or ""
        docs = self.users.get(person)
        if docs is None:
            return 422, {"message": "Validation Failed", "errors": [{
                "message": "The listed users cannot be searched either because the users "
                           "do not exist or you do not have permission to view the users."}]}, \
                None
        if path == "/search/commits":
            since = terms.get("author-date", ">=0000").removeprefix(">=")
            items = [c for c in docs.get("commits") or ()
                     if c["commit"]["author"]["date"][:10] >= since]
            items.sort(key=lambda c: c["commit"]["author"]["date"], reverse=True)
        elif "reviewed-by" in terms:
            since = terms.get("updated", ">=0000").removeprefix(">=")
            items = [i for i in docs.get("reviewed") or () if i["updated_at"][:10] >= since]
        else:
            kind = "pullRequests" if terms.get("type") == "pr" else "issues"
            since = terms.get("created", ">=0000").removeprefix(">=")
            items = [i for i in docs.get(kind) or () if i["created_at"][:10] >= since]  # type: ignore[literal-required]
        per_page = min(100, int(query.get("per_page", "30")))
        page = int(query.get("page", "1"))
        chunk = items[(page - 1) * per_page: page * per_page]
        last = max(1, -(-len(items) // per_page))
        link = None
        if page < last:
            base = f"{self.url}{path}?"
            link = ", ".join(
                f'<{base}{urlencode({**query, "page": str(n)})}>; rel="{rel}"'
                for rel, n in (("next", page + 1), ("last", last)))
        return 200, {"total_count": len(items), "incomplete_results": False,
                     "items": chunk}, link


def _token_of(request: Request) -> str:
    value = request.headers.get("authorization", "")
    for scheme in ("token ", "Bearer ", "bearer "):
        if value.startswith(scheme):
            return value.removeprefix(scheme)
    return ""


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body).encode(), status, headers=headers,
                    media_type="application/json; charset=utf-8")


@contextmanager
def fake_github(users: dict[str, Documents] | None = None, **options: Any
                ) -> Iterator[FakeGitHub]:
    """The fake, served by uvicorn on a free port of 127.0.0.1 until the block ends."""
    fake = FakeGitHub(users=dict(users or {}), **options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without, each answer waits ~40 ms for a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    fake.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(fake.app(), log_config=None, access_log=False,
                                           lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              name="fake-github", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake GitHub did not start")
            time.sleep(0.01)
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# GitHub-shaped documents for tests

def commit_item(sha: str, at: str, repo: str) -> dict[str, Any]:
    """An item of GET /search/commits."""
    return {"sha": sha, "commit": {"author": {"date": at}, "message": f"change {sha[:7]}"},
            "repository": {"full_name": repo},
            "html_url": f"https://github.com/{repo}/commit/{sha}"}


def issue_item(number: int, repo: str, created: str, *, closed: str | None = None,
               merged: str | None = None, pull: bool = False,
               updated: str | None = None) -> dict[str, Any]:
    """An item of GET /search/issues (a pull request when ``pull``)."""
    item: dict[str, Any] = {"number": number, "created_at": created, "closed_at": closed,
                            "updated_at": updated or closed or created,
                            "repository_url": f"https://api.github.com/repos/{repo}"}
    if pull:
        item["pull_request"] = {"merged_at": merged}
    return item


def days_ago(days: float, at: str = "10:00") -> str:
    """An ISO time ``days`` before today at ``at`` UTC: tests stay inside the window."""
    hour, minute = map(int, at.split(":"))
    moment = dt.datetime.now(dt.UTC).replace(hour=hour, minute=minute, second=0,
                                             microsecond=0) - dt.timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def person(login: str, *, commits: int, start: str | None = None, step_hours: float = 1,
           repos: tuple[str, ...] = ("acme/api",), lines: int = 40, files: int = 3,
           pulls: int = 0, reviewed: int = 0, issues: int = 0) -> Documents:
    """Documents of someone with ``commits`` commits ``step_hours`` apart from ``start``
    (default 30 days ago), every commit with its size, the repositories with their
    languages."""
    begin = dt.datetime.fromisoformat(start or days_ago(30))
    items, details = [], {}
    for i in range(commits):
        sha = hashlib.sha1(f"{login}-{i}".encode(), usedforsecurity=False).hexdigest()
        at = (begin + dt.timedelta(hours=i * step_hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
        repo = repos[i % len(repos)]
        items.append(commit_item(sha, at, repo))
        details[sha] = {"sha": sha, "stats": {"additions": lines, "deletions": 0,
                                              "total": lines},
                        "files": [{"filename": f"f{n}.py"} for n in range(files)]}
    day = begin.strftime("%Y-%m-%dT%H:%M:%SZ")
    merged = (begin + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "user": {"login": login, "type": "User"},
        "commits": items, "commitDetails": details,
        "pullRequests": [issue_item(n, repos[0], day, closed=merged, merged=merged, pull=True)
                         for n in range(1, pulls + 1)],
        "reviewed": [issue_item(100 + n, repos[0], day, pull=True, updated=merged)
                     for n in range(reviewed)],
        "issues": [issue_item(200 + n, repos[0], day, closed=merged) for n in range(issues)],
        "languages": {r: {"Python": 9000, "Shell": 1000} for r in repos},
    }
