"""Pure helpers of saving work: commit messages, script output, bundle headers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dockyard.core.checkpoints import (
    check_bundle,
    commit_message,
    parse_bundle_header,
    parse_fields,
)
from dockyard.core.errors import SaveFailed
from dockyard.core.model import PolicyOverrides, SaveStrategy
from dockyard.core.policy import Policy, Rule

A = "2268dc966c12b8d74f4ec17603b4f80599430e92"
B = "32ba7376b74d1cd331c6e22858699543d809eb87"


def test_commit_message_names_key_utc_time_and_count() -> None:
    at = datetime(2026, 11, 23, 1, 2, 3, 456, tzinfo=UTC)
    message = commit_message("john@example.com-app", at=at, files_changed=3)
    assert message.splitlines()[0] == (
        "dockyard checkpoint of workspace john@example.com-app at 2026-11-23T01:02:03Z "
        "(3 files changed)"
    )
    assert "(1 file changed)" in commit_message("k", at=at, files_changed=1)


def test_parse_fields_reads_key_value_lines() -> None:
    out = "repo=yes\nfiles=3\nhead=\nnoise line\nbranch=feature/x=y\n"
    assert parse_fields(out) == {"repo": "yes", "files": "3", "head": "", "branch": "feature/x=y"}


def test_bundle_header_is_parsed_and_checked() -> None:
    data = f"# v2 git bundle\n{A} refs/heads/main\n{B} HEAD\n\nPACK...".encode()
    header = parse_bundle_header(data)
    assert header.version == 2
    assert dict(header.refs) == {"refs/heads/main": A, "HEAD": B}
    check_bundle(header, commit=B)
    with pytest.raises(SaveFailed, match="does not contain"):
        check_bundle(header, commit="f" * 40)


def test_v3_bundle_capabilities_are_skipped() -> None:
    data = f"# v3 git bundle\n@object-format=sha1\n{A} HEAD\n\n".encode()
    assert dict(parse_bundle_header(data).refs) == {"HEAD": A}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04 a zip file", "no header end"),
        (b"hello\n\n", "not a git bundle"),
        (b"# v2 git bundle\nnot-a-sha HEAD\n\n", "malformed"),
    ],
)
def test_non_bundles_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(SaveFailed, match=message):
        parse_bundle_header(data)


def test_an_incomplete_bundle_is_rejected() -> None:
    header = parse_bundle_header(f"# v2 git bundle\n-{A} base\n{B} HEAD\n\n".encode())
    with pytest.raises(SaveFailed, match="incomplete"):
        check_bundle(header, commit=B)


def test_rules_choose_the_save_strategy_last_match_wins() -> None:
    policy = Policy(
        rules=(
            Rule(PolicyOverrides(), owner="*@example.com", strategy=SaveStrategy.GIT),
            Rule(PolicyOverrides(), repo="*/monorepo", strategy=SaveStrategy.IMAGE),
            Rule(PolicyOverrides(), owner="bob@example.com"),  # names no strategy
        )
    )
    assert policy.strategy_for(owner="bob@example.com", repo=None) is SaveStrategy.GIT
    assert policy.strategy_for(owner="a@example.com", repo="x/monorepo") is SaveStrategy.IMAGE
    assert policy.strategy_for(owner="eve@other.org", repo=None) is None
