from __future__ import annotations

import pytest

from dockyard.core.errors import InvalidInput
from dockyard.core.repos import RepoKind, parse_repo, redact, validate_branch


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("./my-react-app", RepoKind.PATH),
        ("/srv/repos/app", RepoKind.PATH),
        ("~/code/app", RepoKind.PATH),
        ("my-react-app", RepoKind.PATH),
        ("./a:b", RepoKind.PATH),
        ("https://github.com/acme/app.git", RepoKind.URL),
        ("git://172.17.0.1/app", RepoKind.URL),
        ("ssh://git@host/app.git", RepoKind.URL),
        ("git@github.com:acme/app.git", RepoKind.URL),
        ("github.com:acme/app", RepoKind.URL),
    ],
)
def test_classification_follows_git(text: str, kind: RepoKind) -> None:
    assert parse_repo(text).kind is kind


def test_credentials_never_reach_the_display_form() -> None:
    spec = parse_repo("https://user:s3cret-token@github.com/acme/app.git")
    assert spec.value.endswith("app.git")
    assert "s3cret" not in spec.display
    assert spec.display == "https://***@github.com/acme/app.git"
    assert redact("https://github.com/x") == "https://github.com/x"


@pytest.mark.parametrize("text", ["", "   ", "ftp://host/x", "file:///etc", "a\x00b"])
def test_unusable_repo_arguments(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_repo(text)


@pytest.mark.parametrize("branch", ["main", "feature/auth", "release-1.2", "u/x_y"])
def test_valid_branches(branch: str) -> None:
    assert validate_branch(branch) == branch


@pytest.mark.parametrize(
    "branch",
    [
        "",
        "-x",
        "a..b",
        "a b",
        "a~1",
        "x.lock",
        "a/",
        "/a",
        "a//b",
        "@",
        "a@{1}",
        ".x",
        "a/.b",
        "a:b",
        "a*",
        "D\udaff\udcea",  # an unpaired surrogate (from a JSON escape)
    ],
)
def test_invalid_branches(branch: str) -> None:
    with pytest.raises(InvalidInput, match="invalid branch name"):
        validate_branch(branch)
