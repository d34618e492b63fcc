"""One person's GitHub activity as GitHub's REST API returns it, read into a ``History``.

The client (datastore/github_api.py) gathers these documents, the demo reads them from a
bundled fixture (datastore/fixtures/github_demo.json), and the tests' fake GitHub serves
them: one format, one reader. Each key holds exactly what an endpoint answers:

- ``user``: ``GET /users/{username}``.
- ``commits``: the items of ``GET /search/commits?q=author:{username} author-date:>=...``.
- ``commitDetails``: sha -> ``GET /repos/{repo}/commits/{sha}`` (``stats``, ``files``),
  for the commits whose size was fetched; the others count without a size.
- ``pullRequests``: the items of ``GET /search/issues?q=author:{username} type:pr ...``.
- ``issues``: the items of ``GET /search/issues?q=author:{username} type:issue ...``.
- ``reviewed``: the items of ``GET /search/issues?q=reviewed-by:{username} type:pr ...``:
  one review per pull request, dated by the pull request's ``updated_at`` (search says who
  reviewed, not when; asking each pull request for its reviews would cost a call each).
- ``languages``: repository full name -> ``GET /repos/{repo}/languages`` (bytes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TypedDict

from datastore.github_metrics import Commit, History, Issue, PullRequest, Repository, Review


class Documents(TypedDict, total=False):
    user: dict[str, Any]
    commits: list[dict[str, Any]]
    commitDetails: dict[str, dict[str, Any]]
    pullRequests: list[dict[str, Any]]
    issues: list[dict[str, Any]]
    reviewed: list[dict[str, Any]]
    languages: dict[str, dict[str, int]]


class MalformedDocument(ValueError):
    """GitHub (or a fixture) answered something this reader cannot use."""


def moment(value: Any, what: str) -> dt.datetime:
    if not isinstance(value, str):
        raise MalformedDocument(f"{what}: expected an ISO 8601 time, got {value!r}")
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise MalformedDocument(f"{what}: {value!r} is not an ISO 8601 time") from None
    if at.utcoffset() is None:
        raise MalformedDocument(f"{what}: {value!r} has no time zone")
    return at


def _maybe_moment(value: Any, what: str) -> dt.datetime | None:
    return None if value is None else moment(value, what)


def repo_of_issue(item: Mapping[str, Any]) -> str:
    """``owner/name`` from a search item's ``repository_url`` (…/repos/{owner}/{name})."""
    url = item.get("repository_url")
    parts = url.rstrip("/").split("/") if isinstance(url, str) else []
    if len(parts) < 3 or parts[-3] != "repos":
        raise MalformedDocument(f"repository_url {url!r} does not name a repository")
    return f"{parts[-2]}/{parts[-1]}"


def _commit(item: Mapping[str, Any], details: Mapping[str, Mapping[str, Any]]) -> Commit:
    try:
        at = moment(item["commit"]["author"]["date"], "commit.author.date")
        repo = item["repository"]["full_name"]
    except (KeyError, TypeError):
        raise MalformedDocument("a commit without commit.author.date or repository") from None
    detail = details.get(item.get("sha", ""))
    if detail is None:
        return Commit(at=at, repo=repo)
    stats = detail.get("stats") or {}
    return Commit(at=at, repo=repo, additions=int(stats.get("additions", 0)),
                  deletions=int(stats.get("deletions", 0)),
                  files_changed=len(detail.get("files") or ()))


def _pull_request(item: Mapping[str, Any]) -> PullRequest:
    merged = (item.get("pull_request") or {}).get("merged_at")
    return PullRequest(created_at=moment(item.get("created_at"), "pull request created_at"),
                       repo=repo_of_issue(item),
                       merged_at=_maybe_moment(merged, "pull_request.merged_at"),
                       closed_at=_maybe_moment(item.get("closed_at"), "closed_at"))


def read_history(username: str, documents: Documents) -> History:
    """The ``History`` the documents describe; raises MalformedDocument on what it cannot
    read (never a KeyError from deep inside)."""
    details = documents.get("commitDetails") or {}
    return History(
        username=username,
        commits=tuple(_commit(c, details) for c in documents.get("commits") or ()),
        pull_requests=tuple(map(_pull_request, documents.get("pullRequests") or ())),
        issues=tuple(Issue(created_at=moment(i.get("created_at"), "issue created_at"),
                           repo=repo_of_issue(i),
                           closed_at=_maybe_moment(i.get("closed_at"), "issue closed_at"))
                     for i in documents.get("issues") or ()),
        reviews=tuple(Review(at=moment(r.get("updated_at"), "reviewed updated_at"),
                             repo=repo_of_issue(r))
                      for r in documents.get("reviewed") or ()),
        repositories=tuple(Repository(name, dict(langs)) for name, langs
                           in sorted((documents.get("languages") or {}).items())),
    )


def shifted(history: History, by: dt.timedelta) -> History:
    """The same activity ``by`` later: the demo moves its recorded history up to today."""
    return replace(
        history,
        commits=tuple(replace(c, at=c.at + by) for c in history.commits),
        pull_requests=tuple(replace(p, created_at=p.created_at + by,
                                    merged_at=p.merged_at and p.merged_at + by,
                                    closed_at=p.closed_at and p.closed_at + by)
                            for p in history.pull_requests),
        issues=tuple(replace(i, created_at=i.created_at + by,
                             closed_at=i.closed_at and i.closed_at + by)
                     for i in history.issues),
        reviews=tuple(replace(r, at=r.at + by) for r in history.reviews))
