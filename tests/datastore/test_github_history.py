"""Reading GitHub's REST documents into a History: each kind, the sampled sizes, bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from datastore.github_history import (
    Documents,
    MalformedDocument,
    read_history,
    repo_of_issue,
    shifted,
)
from datastore.github_metrics import (
    Commit,
    History,
    Issue,
    PullRequest,
    Repository,
    Review,
    compute,
)

UTC = dt.UTC
REPO_URL = "https://api.github.com/repos/acme/api"


def search_commit(sha: str, date: str, repo: str = "acme/api") -> dict[str, Any]:
    """An item of GET /search/commits, trimmed to what it always has."""
    return {"sha": sha, "html_url": f"https://github.com/{repo}/commit/{sha}",
            "commit": {"author": {"name": "Ada", "email": "ada@acme.example", "date": date},
                       "message": "Fix the thing"},
            "author": {"login": "ada"},
            "repository": {"full_name": repo, "private": False}}


def commit_detail(sha: str, additions: int, deletions: int, files: int) -> dict[str, Any]:
    """GET /repos/{repo}/commits/{sha}: its stats and files."""
    return {"sha": sha,
            "stats": {"total": additions + deletions, "additions": additions,
                      "deletions": deletions},
            "files": [{"filename": f"f{n}.py", "status": "modified"} for n in range(files)]}


def search_issue(number: int, created: str, *, closed: str | None = None,
                 updated: str | None = None, merged: str | None = None, pull: bool = False,
                 repository_url: str = REPO_URL) -> dict[str, Any]:
    """An item of GET /search/issues: an issue, or a pull request with ``pull``."""
    item: dict[str, Any] = {
        "repository_url": repository_url, "number": number, "title": "Something",
        "state": "closed" if closed else "open", "created_at": created,
        "updated_at": updated or closed or created, "closed_at": closed}
    if pull:
        item["pull_request"] = {"html_url": f"https://github.com/acme/api/pull/{number}",
                                "merged_at": merged}
    return item


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# Each kind of document


def test_a_search_commit_is_a_commit_at_its_author_date_with_the_offset_kept() -> None:
    history = read_history("ada", {"commits": [
        search_commit("a1", "2025-01-20T23:15:02+01:00", repo="acme/web")]})

    (commit,) = history.commits
    assert commit == Commit(at=at("2025-01-20T23:15:02+01:00"), repo="acme/web")
    assert commit.at.utcoffset() == dt.timedelta(hours=1)
    assert history.username == "ada"


def test_a_commit_detail_gives_the_commit_its_lines_and_files() -> None:
    history = read_history("ada", {
        "commits": [search_commit("a1", "2025-01-20T10:00:00Z")],
        "commitDetails": {"a1": commit_detail("a1", additions=104, deletions=4, files=3)}})

    assert history.commits == (Commit(at=at("2025-01-20T10:00:00Z"), repo="acme/api",
                                      additions=104, deletions=4, files_changed=3),)


def test_commits_without_a_detail_count_without_a_size() -> None:
    # One call per commit: the client fetches the newest commits' sizes only.
    documents: Documents = {
        "commits": [search_commit("new", "2025-01-20T10:00:00Z"),
                    search_commit("old1", "2025-01-10T10:00:00Z"),
                    search_commit("old2", "2025-01-09T10:00:00Z")],
        "commitDetails": {"new": commit_detail("new", additions=90, deletions=30, files=60)}}

    history = read_history("ada", documents)
    metrics = compute(history, timezone="UTC", now=at("2025-01-24T12:00:00Z"))["metrics"]

    assert [c.sized for c in history.commits] == [True, False, False]
    assert metrics["totalCommits"] == 3
    # Averaged over the one sized commit, not diluted by the two without a size.
    assert (metrics["averageCommitSize"], metrics["largeCommitPercentage"]) == (120, 100)


def test_a_detail_without_stats_or_files_is_a_commit_of_zero_lines() -> None:
    history = read_history("ada", {"commits": [search_commit("a1", "2025-01-20T10:00:00Z")],
                                   "commitDetails": {"a1": {"sha": "a1"}}})

    assert history.commits[0] == Commit(at=at("2025-01-20T10:00:00Z"), repo="acme/api",
                                        additions=0, deletions=0, files_changed=0)


def test_a_pull_request_is_read_with_its_merge_and_close_times() -> None:
    history = read_history("ada", {"pullRequests": [
        search_issue(7, "2025-01-02T09:00:00Z", closed="2025-01-03T10:00:00Z",
                     merged="2025-01-03T10:00:00Z", pull=True),
        search_issue(8, "2025-01-05T09:00:00Z", closed="2025-01-06T09:00:00Z", pull=True),
        search_issue(9, "2025-01-07T09:00:00Z", pull=True)]})

    assert history.pull_requests == (
        PullRequest(created_at=at("2025-01-02T09:00:00Z"), repo="acme/api",
                    merged_at=at("2025-01-03T10:00:00Z"), closed_at=at("2025-01-03T10:00:00Z")),
        PullRequest(created_at=at("2025-01-05T09:00:00Z"), repo="acme/api",
                    closed_at=at("2025-01-06T09:00:00Z")),  # closed without merging
        PullRequest(created_at=at("2025-01-07T09:00:00Z"), repo="acme/api"))  # still open


def test_an_issue_is_read_with_its_close_time() -> None:
    history = read_history("ada", {"issues": [
        search_issue(3, "2025-01-02T09:00:00Z", closed="2025-01-04T09:00:00Z"),
        search_issue(4, "2025-01-05T09:00:00Z")]})

    assert history.issues == (
        Issue(created_at=at("2025-01-02T09:00:00Z"), repo="acme/api",
              closed_at=at("2025-01-04T09:00:00Z")),
        Issue(created_at=at("2025-01-05T09:00:00Z"), repo="acme/api"))


def test_a_reviewed_pull_request_is_one_review_dated_by_its_last_update() -> None:
    history = read_history("ada", {"reviewed": [
        search_issue(11, "2025-01-02T09:00:00Z", updated="2025-01-03T16:20:00Z",
                     closed="2025-01-03T16:00:00Z", merged="2025-01-03T16:00:00Z", pull=True,
                     repository_url="https://api.github.com/repos/acme/web")]})

    assert history.reviews == (Review(at=at("2025-01-03T16:20:00Z"), repo="acme/web"),)


def test_languages_are_the_repositories_bytes_sorted_by_name() -> None:
    history = read_history("ada", {"languages": {"acme/web": {"TypeScript": 900, "CSS": 100},
                                                 "acme/api": {"Python": 500}}})

    assert history.repositories == (Repository("acme/api", {"Python": 500}),
                                    Repository("acme/web", {"TypeScript": 900, "CSS": 100}))


def test_missing_documents_are_no_activity_and_the_user_document_is_not_needed() -> None:
    assert read_history("ada", {"user": {"login": "ada", "id": 1}}) == History("ada")
    assert read_history("ada", {"commits": [], "pullRequests": [], "languages": {}}) \
        == History("ada")


@pytest.mark.parametrize("url", [
    "https://api.github.com/repos/acme/api", "https://api.github.com/repos/acme/api/"])
def test_the_repository_of_a_search_item_comes_from_its_repository_url(url: str) -> None:
    assert repo_of_issue({"repository_url": url}) == "acme/api"


# Malformed input: MalformedDocument saying what is wrong, never a KeyError


def _commit_without(path: str) -> dict[str, Any]:
    item = search_commit("a1", "2025-01-20T10:00:00Z")
    *parents, last = path.split(".")
    node = item
    for part in parents:
        node = node[part]
    del node[last]
    return item


@pytest.mark.parametrize(("documents", "message"), [
    pytest.param({"commits": [_commit_without("commit.author.date")]},
                 "a commit without commit.author.date or repository", id="commit-no-date"),
    pytest.param({"commits": [_commit_without("commit")]},
                 "a commit without commit.author.date or repository", id="commit-no-commit"),
    pytest.param({"commits": [_commit_without("repository")]},
                 "a commit without commit.author.date or repository", id="commit-no-repo"),
    pytest.param({"commits": [{**search_commit("a1", ""), "commit": None}]},
                 "a commit without commit.author.date or repository", id="commit-null"),
    pytest.param({"commits": [search_commit("a1", "2025-01-20T10:00:00")]},
                 "commit.author.date: '2025-01-20T10:00:00' has no time zone", id="naive"),
    pytest.param({"commits": [search_commit("a1", "last tuesday")]},
                 "commit.author.date: 'last tuesday' is not an ISO 8601 time", id="not-iso"),
    pytest.param({"pullRequests": [{"repository_url": REPO_URL, "number": 1}]},
                 "pull request created_at: expected an ISO 8601 time, got None",
                 id="pull-no-created"),
    pytest.param({"pullRequests": [search_issue(1, "2025-01-02T09:00:00Z", pull=True,
                                                merged="soon")]},
                 "pull_request.merged_at: 'soon' is not an ISO 8601 time", id="pull-merged"),
    pytest.param({"pullRequests": [search_issue(1, "2025-01-02T09:00:00Z", pull=True,
                                                repository_url="https://github.com/acme")]},
                 "repository_url 'https://github.com/acme' does not name a repository",
                 id="pull-repo-url"),
    pytest.param({"issues": [{**search_issue(1, "2025-01-02T09:00:00Z"),
                              "repository_url": None}]},
                 "repository_url None does not name a repository", id="issue-no-repo"),
    pytest.param({"issues": [search_issue(1, "2025-01-02T09:00:00Z", closed="1735820000")]},
                 "issue closed_at: '1735820000' is not an ISO 8601 time", id="issue-closed"),
    pytest.param({"reviewed": [{"repository_url": REPO_URL, "number": 1}]},
                 "reviewed updated_at: expected an ISO 8601 time, got None", id="review"),
])
def test_a_malformed_document_is_refused_saying_what_is_wrong(
        documents: Documents, message: str) -> None:
    with pytest.raises(MalformedDocument) as refused:
        read_history("ada", documents)

    assert str(refused.value) == message
    assert not isinstance(refused.value, KeyError)


# Shifting a history in time


def test_shifted_moves_every_moment_and_keeps_everything_else() -> None:
    t = at("2024-03-01T22:30:00+01:00")
    day = dt.timedelta(days=1)
    history = History(
        "ada",
        commits=(Commit(at=t, repo="acme/api", additions=5, deletions=1, files_changed=2),
                 Commit(at=t + day, repo="acme/web")),
        pull_requests=(PullRequest(created_at=t, repo="acme/api", merged_at=t + day,
                                   closed_at=t + day),
                       PullRequest(created_at=t, repo="acme/api")),
        issues=(Issue(created_at=t, repo="acme/api", closed_at=t + 2 * day),
                Issue(created_at=t, repo="acme/api")),
        reviews=(Review(at=t + 3 * day, repo="acme/web"),),
        repositories=(Repository("acme/api", {"Python": 10}),))
    by = dt.timedelta(weeks=47)

    moved = shifted(history, by)

    assert moved == History(
        "ada",
        commits=(Commit(at=t + by, repo="acme/api", additions=5, deletions=1,
                        files_changed=2),
                 Commit(at=t + day + by, repo="acme/web")),
        pull_requests=(PullRequest(created_at=t + by, repo="acme/api", merged_at=t + day + by,
                                   closed_at=t + day + by),
                       PullRequest(created_at=t + by, repo="acme/api")),
        issues=(Issue(created_at=t + by, repo="acme/api", closed_at=t + 2 * day + by),
                Issue(created_at=t + by, repo="acme/api")),
        reviews=(Review(at=t + 3 * day + by, repo="acme/web"),),
        repositories=history.repositories)
    assert shifted(moved, -by) == history


def test_a_history_shifted_with_now_computes_the_same_figures() -> None:
    now = at("2025-01-24T12:00:00Z")
    history = read_history("ada", {
        "commits": [search_commit("a1", "2025-01-20T23:15:00Z"),
                    search_commit("a2", "2025-01-18T11:00:00Z")],
        "commitDetails": {"a1": commit_detail("a1", additions=40, deletions=2, files=4)},
        "pullRequests": [search_issue(1, "2025-01-02T09:00:00Z", closed="2025-01-04T09:00:00Z",
                                      merged="2025-01-04T09:00:00Z", pull=True)],
        "reviewed": [search_issue(2, "2025-01-03T09:00:00Z", updated="2025-01-05T09:00:00Z",
                                  pull=True)]})
    by = dt.timedelta(weeks=30)

    before = compute(history, timezone="UTC", now=now)
    after = compute(shifted(history, by), timezone="UTC", now=now + by)

    for figures in (before, after):
        figures["metrics"].pop("activityPeriod")
    assert after == before
