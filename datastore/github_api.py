"""The GitHub REST API client: one person's activity documents, within bounds.

Built on gidgethub (its httpx backend), which follows ``Link`` pagination, sends conditional
requests from its ETag cache (a 304 costs no rate limit) and gets GitHub App tokens; this
module adds what a server needs around it:

- credentials: a token, or a GitHub App's installation token, fetched again 5 minutes
  before it expires;
- bounds: at most ``max_calls_per_person`` requests per person (what does not fit is left
  out, and the documents say so), at most ``concurrency`` requests at once (the connection
  pool), a timeout on every request;
- rate limits: a primary limit (``X-RateLimit-Remaining: 0``) fails at once with the time it
  resets, and no request is sent against a limit known to be spent until then; a secondary
  limit's ``Retry-After`` is waited out once when it is short, else it fails the same way;
- failures as four exceptions: GitHubUnavailable, GitHubRateLimited, GitHubUserNotFound and
  (a subclass of the first) GitHubNotConfigured. Their messages name no credential.

Nothing here runs on a read of the API: the refresh mutation, the CLI and the scheduler
import it (datastore/github_refresh.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import http
import logging
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import gidgethub
import gidgethub.apps
import gidgethub.httpx
import httpx

from datastore.github_history import Documents
from datastore.github_settings import (
    GitHubConfig,
    GitHubError,
    GitHubNotConfigured,
    GitHubRateLimited,
    GitHubUnavailable,
    GitHubUserNotFound,
)

log = logging.getLogger("devinsights.github")

API_VERSION = "2022-11-28"
TOKEN_REFRESH_MARGIN = dt.timedelta(minutes=5)
PER_PAGE = 100
GONE = (404, 409, 410, 451)  # 409: an empty repository has no commits to describe


class _BudgetSpent(Exception):
    """The person's requests are used up; what was fetched so far is kept."""


@dataclass
class Tally:
    """The requests made for one person."""

    budget: int
    wait_seconds: float  # longest secondary limit waited out; 0 on a person's request
    started: int = 0  # requests sent, retries included
    not_modified: int = 0  # answered 304 from the ETag cache: no rate limit spent
    left_out: list[str] = field(default_factory=list)  # what the budget did not reach

    @property
    def left(self) -> int:
        return self.budget - self.started


_tally: contextvars.ContextVar[Tally | None] = contextvars.ContextVar("github_tally",
                                                                        default=None)


@dataclass(frozen=True, slots=True)
class Fetched:
    documents: Documents
    api_calls: int
    not_modified: int
    left_out: tuple[str, ...]


class ResponseCache(MutableMapping[str, Any]):
    """gidgethub's ETag cache, keeping the ``limit`` entries used last (it holds whole
    pages; unbounded, a long-running scheduler would keep every page it ever saw)."""

    def __init__(self, limit: int = 2000) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, Any] = OrderedDict()

    def __getitem__(self, key: str) -> Any:
        value = self._entries[key]
        self._entries.move_to_end(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)

    def __delitem__(self, key: str) -> None:
        del self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _resource(url: str) -> str:
    """The rate-limit bucket a URL spends (GitHub's ``X-RateLimit-Resource``)."""
    return "search" if urlsplit(url).path.rstrip("/").split("/")[-2:-1] == ["search"] \
        else "core"


class _Api(gidgethub.httpx.GitHubAPI):
    """gidgethub's client with our bounds, through its two public hooks."""

    def __init__(self, client: httpx.AsyncClient, config: GitHubConfig,
                 cache: ResponseCache) -> None:
        super().__init__(client, config.user_agent, cache=cache,
                         base_url=config.api_url.rstrip("/"))
        self.config = config
        self.spent_until: dict[str, dt.datetime] = {}  # resource -> when its limit resets

    async def manage_rate_limit(self, *, method: str, url: str) -> None:
        resets = self.spent_until.get(_resource(url))
        if resets is not None and resets > dt.datetime.now(dt.UTC):
            raise GitHubRateLimited(resets, secondary=False)
        tally = _tally.get()
        if tally is not None and "/app/installations/" not in url:
            if tally.left <= 0:
                raise _BudgetSpent
            tally.started += 1

    async def handle_rate_limit_error(self, *, method: str, url: str,
                                      exception: gidgethub.HTTPException, attempt: int
                                      ) -> bool:
        status, headers = exception.status_code, exception.headers
        if attempt > 1:
            return False
        if status in (http.HTTPStatus.FORBIDDEN, http.HTTPStatus.TOO_MANY_REQUESTS) \
                and "retry-after" in headers:
            wait = _seconds(headers["retry-after"])
            tally = _tally.get()
            patience = tally.wait_seconds if tally is not None else 0.0
            if wait is not None and wait <= patience:
                log.info("github secondary rate limit: waiting",
                         extra={"fields": {"seconds": wait}})
                await self.sleep(wait)
                return True
            return False
        if status >= 500:
            await self.sleep(1.0)  # one retry: httpx retries nothing itself
            return True
        return False

    def observe(self, response: httpx.Response) -> None:
        """Every response: count it, and remember a spent primary limit."""
        tally = _tally.get()
        if tally is not None and response.status_code == http.HTTPStatus.NOT_MODIFIED:
            tally.not_modified += 1
        remaining = response.headers.get("x-ratelimit-remaining")
        reset = response.headers.get("x-ratelimit-reset")
        resource = response.headers.get("x-ratelimit-resource") or _resource(
            str(response.request.url))
        if remaining == "0" and reset is not None and reset.isdigit():
            self.spent_until[resource] = dt.datetime.fromtimestamp(int(reset), dt.UTC)
        elif remaining not in (None, "0"):
            self.spent_until.pop(resource, None)


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 else None


class GitHubClient:
    """``async with GitHubClient(config) as github: await github.fetch(username, now=...)``;
    one per process, shared by every refresh (its ETag cache and rate-limit state too)."""

    def __init__(self, config: GitHubConfig, *, cache: ResponseCache | None = None) -> None:
        if not config.configured:
            raise GitHubNotConfigured
        self.config = config
        self.cache = cache if cache is not None else ResponseCache()
        self._http: httpx.AsyncClient | None = None
        self._api: _Api | None = None
        self._token: str | None = config.token
        self._token_expires: dt.datetime | None = None
        self._token_lock = asyncio.Lock()
        # Told every response's status: the server's metrics.
        self.on_response: Callable[[int], None] | None = None

    async def __aenter__(self) -> GitHubClient:
        limits = httpx.Limits(max_connections=self.config.concurrency,
                              max_keepalive_connections=self.config.concurrency)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.config.timeout_seconds), limits=limits,
            trust_env=False, event_hooks={"response": [self._observe]})
        self._api = _Api(self._http, self.config, self.cache)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = self._api = None

    async def _observe(self, response: httpx.Response) -> None:
        if self.on_response is not None:
            self.on_response(response.status_code)
        if self._api is not None:
            self._api.observe(response)

    @property
    def api(self) -> _Api:
        if self._api is None:
            raise RuntimeError("use GitHubClient as `async with GitHubClient(...) as github`")
        return self._api

    async def _credentials(self) -> str:
        """The token to send: the configured one, or a current installation token."""
        config = self.config
        if config.token:
            return config.token
        async with self._token_lock:
            now = dt.datetime.now(dt.UTC)
            if self._token is None or self._token_expires is None \
                    or self._token_expires - TOKEN_REFRESH_MARGIN <= now:
                app, key, installation = (config.app_id, config.app_private_key,
                                          config.app_installation_id)
                if not (app and key and installation):
                    raise GitHubNotConfigured
                with _translated("the GitHub App's installation token"):
                    answer = await gidgethub.apps.get_installation_access_token(
                        self.api, installation_id=installation, app_id=app, private_key=key)
                self._token = str(answer["token"])
                self._token_expires = dt.datetime.fromisoformat(answer["expires_at"])
                log.info("github app token", extra={"fields": {
                    "installation": config.app_installation_id,
                    "expiresAt": self._token_expires.isoformat()}})
            return self._token

    async def fetch(self, username: str, *, now: dt.datetime, patient: bool = True
                    ) -> Fetched:
        """The documents of ``username``'s activity in the window ending at ``now``
        (datastore/github_history.py says which endpoint answers each). ``patient`` waits
        out a short secondary rate limit (the CLI, the scheduler); a person waiting for an
        answer gets GitHubRateLimited at once instead."""
        searches_from = self.api.spent_until.get("search")
        if searches_from is not None and searches_from > dt.datetime.now(dt.UTC):
            raise GitHubRateLimited(searches_from, secondary=False)  # every person searches
        tally = Tally(self.config.max_calls_per_person,
                      self.config.secondary_wait_seconds if patient else 0.0)
        reset = _tally.set(tally)
        try:
            documents = await _Person(self, username, await self._credentials(), tally,
                                      now).documents()
        except GitHubError as exc:
            exc.api_calls = tally.started
            raise
        finally:
            _tally.reset(reset)
        return Fetched(documents, tally.started, tally.not_modified, tuple(tally.left_out))


@contextlib.contextmanager
def _translated(what: str, *, username: str | None = None) -> Iterator[None]:
    """gidgethub's and httpx's failures as ours, naming what was being fetched (a 404 is
    GitHubUserNotFound when ``username`` is what was asked for)."""
    try:
        yield
    except (GitHubError, _BudgetSpent):
        raise
    except Exception as exc:
        mapped = _mapped(exc, what, username)
        if mapped is None:
            raise
        raise mapped from None


def _mapped(exc: BaseException, what: str, username: str | None) -> GitHubError | None:
    if isinstance(exc, gidgethub.RateLimitExceeded):
        return GitHubRateLimited(exc.rate_limit.reset_datetime, secondary=False)
    if isinstance(exc, httpx.TimeoutException):
        return GitHubUnavailable(f"GitHub did not answer in time for {what}")
    if isinstance(exc, httpx.TransportError):
        return GitHubUnavailable(f"GitHub could not be reached for {what} "
                                 f"({type(exc).__name__})")
    if not isinstance(exc, gidgethub.HTTPException):
        return None
    status, headers = exc.status_code, exc.headers
    if status in (403, 429) and "retry-after" in headers:
        wait = _seconds(headers["retry-after"]) or 60.0
        return GitHubRateLimited(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait),
                                 secondary=True)
    if status == 403 and "secondary rate limit" in str(exc).lower():
        # Without Retry-After, GitHub says to wait at least a minute.
        return GitHubRateLimited(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
                                 secondary=True)
    if status in (403, 429) and headers.get("x-ratelimit-remaining") == "0":
        reset = headers.get("x-ratelimit-reset", "")
        at = dt.datetime.fromtimestamp(int(reset), dt.UTC) if reset.isdigit() \
            else dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        return GitHubRateLimited(at, secondary=False)
    if username is not None and status in (404, 422):
        # 422: search answers "The listed users cannot be searched" for unknown users.
        return GitHubUserNotFound(username)
    if status == 401:
        return GitHubUnavailable("GitHub refused this server's credentials (401): check "
                                 "its GitHub token or App settings")
    if status >= 500:
        return GitHubUnavailable(f"GitHub failed ({int(status)}) for {what}")
    return GitHubUnavailable(f"GitHub answered {int(status)} for {what}")


class _Person:
    """The fetch plan of one person: the searches first, then what the budget allows."""

    def __init__(self, client: GitHubClient, username: str, token: str, tally: Tally,
                 now: dt.datetime) -> None:
        self.api, self.config = client.api, client.config
        self.username, self.token, self.tally = username, token, tally
        self.since = (now - dt.timedelta(days=self.config.window_days)).date().isoformat()
        self.headers = {"x-github-api-version": API_VERSION}

    async def _get(self, url: str, what: str) -> Any:
        """One optional document: None when GitHub has it no more (a deleted repository, a
        commit rewritten away), so one gone repository does not fail the person."""
        with _translated(what):
            try:
                return await self.api.getitem(url, oauth_token=self.token,
                                              extra_headers=self.headers)
            except gidgethub.BadRequest as exc:
                if exc.status_code not in GONE or "retry-after" in exc.headers:
                    raise
                self.tally.left_out.append(f"{what} (GitHub answered {int(exc.status_code)})")
                return None

    async def _search(self, kind: str, query: str, *, pages: int | None = None,
                      **order: str) -> list[dict[str, Any]]:
        url = f"/search/{kind}?" + urlencode({"q": query, **order, "per_page": PER_PAGE})
        found: list[dict[str, Any]] = []
        with _translated(f"the search {query!r}", username=self.username):
            async for item in self._pages(url, pages or self.config.search_pages):
                found.append(item)
        return found

    async def _pages(self, url: str, pages: int) -> AsyncIterator[dict[str, Any]]:
        """The items of every page (``Link: rel="next"``), up to ``pages`` pages."""
        most = pages * PER_PAGE
        path = url.split("?")[0]
        items = self.api.getiter(url, oauth_token=self.token, extra_headers=self.headers)
        try:
            async with contextlib.aclosing(items):
                seen = 0
                async for item in items:
                    seen += 1
                    yield item
                    if seen == most:  # stop before the next page is asked for
                        self.tally.left_out.append(f"any results of {path} after {most}")
                        return
        except _BudgetSpent:
            self.tally.left_out.append(f"later pages of {path}")

    async def documents(self) -> Documents:
        user, name = self.username, quote(self.username, safe="")
        with _translated(f"the user {user!r}", username=user):
            profile = await self.api.getitem(f"/users/{name}", oauth_token=self.token,
                                             extra_headers=self.headers)
        documents: Documents = {"user": profile}
        try:
            documents["commits"] = await self._search(
                "commits", f"author:{user} author-date:>={self.since}",
                pages=self.config.commit_pages, sort="author-date", order="desc")
            documents["pullRequests"] = await self._search(
                "issues", f"author:{user} type:pr created:>={self.since}")
            documents["issues"] = await self._search(
                "issues", f"author:{user} type:issue created:>={self.since}")
            documents["reviewed"] = await self._search(
                "issues", f"reviewed-by:{user} -author:{user} type:pr updated:>={self.since}")
            documents["commitDetails"] = await self._commit_details(documents["commits"])
            documents["languages"] = await self._languages(documents["commits"])
        except _BudgetSpent:
            self.tally.left_out.append("the rest: the per-person request budget ran out")
        return documents

    async def _commit_details(self, commits: list[dict[str, Any]]
                              ) -> dict[str, dict[str, Any]]:
        newest = sorted(commits, key=lambda c: str(c["commit"]["author"]["date"]),
                        reverse=True)[:self.config.commit_sizes]
        # Keep a request per repository's languages, as far as the budget goes.
        reserve = min(self.config.languages_of, len(_repositories(commits)))
        details: dict[str, dict[str, Any]] = {}
        for item in newest:
            if self.tally.left <= reserve:
                self.tally.left_out.append(f"sizes of {len(newest) - len(details)} commits")
                break
            repo, sha = item["repository"]["full_name"], item["sha"]
            detail = await self._get(f"/repos/{repo}/commits/{sha}",
                                     f"commit {sha[:7]} of {repo}")
            if detail is not None:
                details[sha] = detail
        return details

    async def _languages(self, commits: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        for repo in _repositories(commits)[:self.config.languages_of]:
            if self.tally.left <= 0:
                self.tally.left_out.append("languages of some repositories")
                break
            languages = await self._get(f"/repos/{repo}/languages",
                                        f"the languages of {repo}")
            if languages is not None:
                found[repo] = languages
        return found


def _repositories(commits: list[dict[str, Any]]) -> list[str]:
    """The repositories of the commits, the most commits first (ties by name)."""
    counts = Counter(c["repository"]["full_name"] for c in commits)
    return sorted(counts, key=lambda r: (-counts[r], r))


