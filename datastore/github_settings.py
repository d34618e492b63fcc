"""How this server reaches GitHub, and how fetching can fail: no I/O, nothing imported
that a read of the API does not need (the client, datastore/github_api.py, imports
gidgethub and httpx when a refresh first runs)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class GitHubConfig:
    api_url: str = "https://api.github.com"
    token: str | None = field(default=None, repr=False)
    app_id: str | None = None
    app_private_key: str | None = field(default=None, repr=False)
    app_installation_id: str | None = None
    timeout_seconds: float = 10.0  # per request
    person_timeout_seconds: float = 60.0  # for all of one person's requests
    max_calls_per_person: int = 60
    concurrency: int = 4  # requests in flight at once, over every person and organization
    window_days: int = 365
    commit_pages: int = 10  # pages of 100 commits: 1,000 is all GitHub's search gives
    search_pages: int = 3  # pages of 100 of the other searches: pull requests, issues, reviews
    commit_sizes: int = 30  # the newest commits whose size is fetched (one call each)
    languages_of: int = 10  # repositories (most commits first) whose languages are fetched
    secondary_wait_seconds: float = 60.0  # longest Retry-After waited out, once
    user_agent: str = "devinsights-api"

    @property
    def configured(self) -> bool:
        return bool(self.token or (self.app_id and self.app_private_key
                                   and self.app_installation_id))


class GitHubError(Exception):
    """Base of what fetching from GitHub raises on purpose; the message is for people.
    ``api_calls`` is what the failed fetch had sent."""

    api_calls: int = 0


class GitHubUnavailable(GitHubError):
    """GitHub could not be reached, timed out, failed (5xx) or refused our credentials."""


class GitHubNotConfigured(GitHubUnavailable):
    def __init__(self) -> None:
        super().__init__("this server has no GitHub credentials: set DEVINSIGHTS_GITHUB_TOKEN, "
                         "or DEVINSIGHTS_GITHUB_APP_ID, DEVINSIGHTS_GITHUB_APP_PRIVATE_KEY and "
                         "DEVINSIGHTS_GITHUB_APP_INSTALLATION_ID")


class GitHubRateLimited(GitHubError):
    def __init__(self, resets_at: dt.datetime, *, secondary: bool) -> None:
        self.resets_at = resets_at
        self.secondary = secondary
        kind = "secondary rate limit" if secondary else "rate limit"
        super().__init__(f"GitHub's {kind} is reached until "
                         f"{resets_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")


class GitHubUserNotFound(GitHubError):
    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"GitHub has no user {username!r}: check the member's GitHub username")


