"""The framing of commands in a command session: pure bytes in, output and ends out."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.core.errors import InvalidInput
from dockyard.core.framing import (
    COMMAND_MAX,
    Finished,
    Gone,
    Reader,
    check_command,
    frame,
    interrupted_frame,
    is_session_process,
    script_argv,
    session_dir,
)

TOKEN = "0123456789abcdef"
BEGIN = f"\x1eDY-BEGIN {TOKEN}\n".encode()
END = f"\n\x1eDY-END {TOKEN} 0 /tmp\n".encode()


def read_all(chunks: list[bytes]) -> tuple[bytes, Reader]:
    reader = Reader(TOKEN)
    return b"".join(reader.feed(c) for c in chunks), reader


def test_output_between_the_markers_is_the_command_s_and_stale_output_is_skipped() -> None:
    stale = b"banner\n\x1eDY-BEGIN ffff\nold\n\n\x1eDY-END ffff 1 /\n"
    out, reader = read_all([stale + BEGIN + b"hello\nworld" + END + b"after"])
    assert out == b"hello\nworld"
    assert reader.end == Finished(exit_code=0, cwd="/tmp")
    assert reader.feed(b"more") == b""  # nothing after the end


@given(st.binary(max_size=300), st.lists(st.integers(1, 40), max_size=30))
def test_any_output_cut_anywhere_comes_out_whole(payload: bytes, cuts: list[int]) -> None:
    stream = BEGIN + payload + END
    chunks, at = [], 0
    for size in cuts:
        chunks.append(stream[at : at + size])
        at += size
    chunks.append(stream[at:])
    out, reader = read_all(chunks)
    if b"\x1eDY-" not in payload:
        assert out == payload
        assert reader.end == Finished(exit_code=0, cwd="/tmp")


def test_output_streams_with_only_a_possible_marker_held_back() -> None:
    reader = Reader(TOKEN)
    assert reader.feed(BEGIN + b"first\n") == b"first"  # the newline could start a marker
    assert reader.feed(b"second\n") == b"\nsecond"
    assert reader.feed(END) == b"\n"  # the output's own last newline; the marker's is not
    assert reader.end == Finished(0, "/tmp")


def test_the_shell_ending_is_gone_before_or_during_a_command() -> None:
    _, before = read_all([b"\x1eDY-GONE\n"])
    assert before.end == Gone()
    out, during = read_all([BEGIN + b"partial", b"\n\x1eDY-GONE\n"])
    assert (out, during.end) == (b"partial", Gone())


def test_an_interrupt_ends_with_130_and_a_second_end_is_ignored() -> None:
    interrupted = f"\n\x1eDY-END {TOKEN} 130 /w\n".encode()
    out, reader = read_all([BEGIN + b"before\n" + interrupted + interrupted])
    assert (out, reader.end) == (b"before\n", Finished(130, "/w"))
    assert f"DY-END {TOKEN} 130".encode() in interrupted_frame(TOKEN)


def test_a_frame_carries_any_command_as_one_quoted_word() -> None:
    command = "echo 'it''s' \"$HOME\" `x` $(y); exit"
    data = frame(command, TOKEN).decode()
    first = data.splitlines()[0]
    assert first == "__dy_c=" + shlex.quote(command)
    assert TOKEN in data


@pytest.mark.parametrize(
    ("command", "message"),
    [("", "empty"), ("   ", "empty"), ("a\0b", "NUL"), ("x" * (COMMAND_MAX + 1), "limit")],
)
def test_commands_that_cannot_go_are_refused(command: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_command(command)


def test_session_directories_and_processes_are_recognised() -> None:
    assert session_dir("5e55aaaa") == "/tmp/.dockyard-sessions/5e55aaaa"
    for bad in ("../etc", "", "5E55AAAA", "abc", "a" * 65, "5e55aaaa/.."):
        with pytest.raises(InvalidInput):
            session_dir(bad)
    argv = script_argv("true", "5e55aaaa")
    assert is_session_process(argv)
    assert not is_session_process(["sh", "-c", "sleep 1"])
    assert not is_session_process(["true"])


def test_an_interrupt_before_the_command_began_still_ends_it() -> None:
    resent = f"\n\x1eDY-END {TOKEN} 130 /w\n".encode()
    out, reader = read_all([b"noise\n", resent[:9], resent[9:]])
    assert (out, reader.end) == (b"", Finished(130, "/w"))
