from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.core.errors import InvalidInput, InvalidKey
from dockyard.core.naming import (
    KEY_MAX,
    LABEL_INSTALLATION,
    LABEL_KEEP,
    LABEL_MANAGED,
    LABEL_WORKSPACE,
    ROUTE_SUFFIXES,
    ownership_labels,
    repo_leaf,
    slugify,
    validate_image,
    validate_key,
    validate_new_key,
    validate_user_labels,
    workspace_names,
)

ENGINE_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


@pytest.mark.parametrize(
    "key", ["john@example.com-my-react-app", "user:42", "myapp@feature/auth", "ü", "k" * KEY_MAX]
)
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("a\nb", "control character"),
        ("a\x00b", "control character"),
        ("a b", "whitespace"),
        ("k" * (KEY_MAX + 1), "the limit is 128"),
    ],
)
def test_invalid_keys_say_why(key: str, reason: str) -> None:
    with pytest.raises(InvalidKey, match=reason):
        validate_key(key)


@pytest.mark.parametrize(
    "key", ["myapp@feature/auth", "a/b/c", "v1.2", "a/.x", "touch", "a/touched", "..a", "%2F"]
)
def test_new_keys_that_an_url_can_name(key: str) -> None:
    assert validate_new_key(key) == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("/a", "an empty segment"),
        ("a/", "an empty segment"),
        ("a//b", "an empty segment"),
        ("a/./b", "a segment '.'"),
        ("..", "a segment '..'"),
        ("a/..", "a segment '..'"),
        ("a/touch", "may not end in /touch"),
        ("x/y/sessions", "may not end in /sessions"),
        ("a b", "whitespace"),
    ],
)
def test_new_keys_an_url_cannot_name_say_why(key: str, reason: str) -> None:
    with pytest.raises(InvalidKey, match=reason):
        validate_new_key(key)
    if "whitespace" not in reason:
        assert validate_key(key) == key  # made before the rule: still usable by name


def test_names_are_deterministic_short_and_readable() -> None:
    names = workspace_names("john@example.com-my-react-app", installation="inst1")
    assert names == workspace_names("john@example.com-my-react-app", installation="inst1")
    assert names.container.startswith("dy-john-example-com-my-reac-")
    assert names.volume == names.container + "-work"


def test_names_from_repo_and_branch_leaf() -> None:
    names = workspace_names(
        "myapp@feature/auth",
        installation="i",
        repo="https://github.com/acme/myapp.git",
        branch="feature/auth",
    )
    assert names.container.startswith("dy-myapp-auth-")


def test_names_differ_per_key_and_per_installation() -> None:
    a = workspace_names("a/b", installation="i1").container
    b = workspace_names("a-b", installation="i1").container
    c = workspace_names("a/b", installation="i2").container
    assert len({a, b, c}) == 3
    assert a.rsplit("-", 1)[0] == b.rsplit("-", 1)[0]  # same slug, the hash tells them apart


@given(st.text(min_size=1, max_size=KEY_MAX))
def test_any_key_gives_an_engine_safe_bounded_name(key: str) -> None:
    names = workspace_names(key, installation="x", repo=key, branch=key)
    for name in (names.container, names.volume):
        assert ENGINE_NAME.fullmatch(name)
        assert name == name.lower()
        assert len(name) <= 3 + 24 + 1 + 8 + len("-work")


@pytest.mark.parametrize(
    ("repo", "leaf"),
    [
        ("./my-react-app", "my-react-app"),
        ("/src/app/", "app"),
        ("git@github.com:a/b.git", "b"),
        ("https://x.org/a/b.git", "b"),
        ("repo", "repo"),
    ],
)
def test_repo_leaf(repo: str, leaf: str) -> None:
    assert repo_leaf(repo) == leaf


def test_slugify_collapses_and_bounds() -> None:
    assert slugify("Hello,  World!!") == "hello-world"
    assert slugify("---") == ""
    assert len(slugify("a" * 100)) == 24


def test_ownership_labels_are_in_the_reserved_namespace() -> None:
    labels = ownership_labels(installation="i", key="k", owner="o", keep=True)
    assert labels[LABEL_MANAGED] == "true"
    assert labels[LABEL_INSTALLATION] == "i"
    assert labels[LABEL_WORKSPACE] == "k"
    assert labels[LABEL_KEEP] == "true"
    assert all(k.startswith("dockyard.") for k in labels)


def test_user_labels_may_not_use_the_reserved_namespace() -> None:
    assert validate_user_labels({"team": "infra"}) == {"team": "infra"}
    with pytest.raises(InvalidInput, match="reserved namespace"):
        validate_user_labels({"dockyard.keep": "true"})
    with pytest.raises(InvalidInput, match="label key"):
        validate_user_labels({"bad key": "x"})
    with pytest.raises(InvalidInput, match="printable"):
        validate_user_labels({"k": "a\nb"})


@pytest.mark.parametrize(
    "ref",
    [
        "dockyard/workspace:latest",
        "busybox",
        "registry.example.com:5000/team/agent:1.2-rc_3",
        "myorg/agent@sha256:" + "a" * 64,
        "sha256:" + "0" * 64,
        "a__b/c-d.e",
        "[::1]:5000/team/agent:1",
    ],
)
def test_image_references(ref: str) -> None:
    assert validate_image(ref) == ref


@pytest.mark.parametrize(
    "ref", ["Ó ", "UPPER/case", "a b", "x:", "../etc", "a/..//b", "-a", "a:tag:more", "a" * 513]
)
def test_what_is_no_image_reference_is_refused(ref: str) -> None:
    with pytest.raises(InvalidInput, match="invalid image reference"):
        validate_image(ref)


def test_the_route_suffixes_are_the_routes() -> None:
    """Every route below ``/workspaces/{key}`` ends in a segment a new key may not end in."""
    from fastapi import FastAPI  # noqa: PLC0415

    from dockyard.api.routes import router  # noqa: PLC0415

    app = FastAPI()
    app.include_router(router)
    prefix = "/api/v1/workspaces/{key}/"
    paths = set(app.openapi()["paths"])
    suffixes = {p.removeprefix(prefix) for p in paths if p.startswith(prefix)}
    assert suffixes == ROUTE_SUFFIXES
