"""How live sessions' processes work inside a container: the scripts, and the framing of
commands and their results. Pure text and bytes; the service runs them over the engine.

A ``command`` session is an interactive shell (``sh -i``: an interrupt ends the command,
not the shell) started in the container by an exec nobody stays attached to. It reads
commands from a FIFO and writes their output to another, so it lives as long as the
container does, whoever holds the session: a CLI that exits, a ``serve`` that restarts.
A *channel* is an attached exec that writes into the input FIFO and relays the output
FIFO. The newest channel of a session ends the one before it, so output has one reader.

Each command goes in as a frame: its text as a single-quoted word (nothing in it can
break out), evaluated by the shell with its input from ``/dev/null``, between a begin
and an end marker that carry a token unique to the command; the end marker carries the
exit code and the working directory after it. Whatever a channel reads before its
command's begin marker belongs to an earlier one and is skipped. When the shell ends,
the script that started it writes a ``gone`` marker.

A ``shell`` session is a PTY held by one attached exec of the process serving its
terminal; it notes its process group's id where ``CLOSE`` finds it. Every session
process carries ``SESSION_MARK`` as its ``$0``, so probes can tell them from the user's
execs.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.core.errors import InvalidInput

SESSION_MARK = "dockyard-session"
SESSIONS_DIR = "/tmp/.dockyard-sessions"  # noqa: S108 - in the container, private to root
#: The longest command a frame carries (bytes of UTF-8).
COMMAND_MAX = 256 * 1024
#: Exit code of a command interrupted at its timeout (128 + SIGINT), as a shell reports it.
INTERRUPTED = 130

_SESSION_ID = re.compile(r"[0-9a-f]{8,64}")
_BEGIN = b"\x1eDY-BEGIN "
_END = b"\n\x1eDY-END "
_GONE = b"\x1eDY-GONE\n"

_GUARD = (
    f"d=$1; case $d in {SESSIONS_DIR}/?*) ;; *) exit 2;; esac\n"
    # a process is named by its pid and its start time (field 22 of /proc/PID/stat): after
    # a container restart the pids of the files below belong to other processes
    'started() { set -- $(cat "/proc/$1/stat" 2>/dev/null) && echo "${22}"; }\n'
    'ours() { [ -n "$2" ] && [ "$(started "$1")" = "$2" ]; }\n'
    # the directories are trusted only if they are this user's own, not links: another
    # user of the container could otherwise plant pid files for a close to act on
    'private() { [ -d "$1" ] && [ ! -h "$1" ] && [ -O "$1" ]; }\n'
)
_TRUSTED = 'private "${d%/*}" && private "$d"'
_REFUSE = " || { echo 'dockyard: the session directory is not private' >&2; exit 4; }\n"
_SHELL_ALIVE = 'read -r pg ps <"$d/pid" 2>/dev/null && ours "$pg" "$ps"'
_END_CHANNEL = (
    'if read -r r rs w ws <"$d/channel" 2>/dev/null; then\n'
    '  ours "$r" "$rs" && kill "$r"; ours "$w" "$ws" && kill "$w"\n'
    "fi 2>/dev/null\n"
)

#: Starts the command shell; prints ``ready PGID`` before it lets go of its output.
START_COMMAND_SHELL = _GUARD + (
    "umask 077\n"
    'mkdir -p "$d" || exit 1\n'
    + _TRUSTED
    + _REFUSE
    + 'rm -f "$d/in" "$d/out" "$d/channel" && mkfifo "$d/in" "$d/out" || exit 1\n'
    'exec 3<>"$d/in" 4<>"$d/out"\n'
    'echo "$$ $(started $$)" >"$d/pid"\n'
    'echo "ready $$"\n'
    "exec 1>&4 2>&4\n"
    "trap true INT\n"
    "PS1= PS2= ENV= sh -i <&3 >&4 2>&4 3>&- 4>&-\n"
    "printf '\\n\\036DY-GONE\\n' >&4\n"
)

#: Relays the session's input and output over the exec's own; ends an older channel.
CHANNEL = (
    _GUARD
    + _TRUSTED
    + " && "
    + _SHELL_ALIVE
    + " || { printf '\\036DY-GONE\\n'; exit 3; }\n"
    + _END_CHANNEL
    + (
        "exec 5<&0\n"
        'cat "$d/out" & r=$!\n'
        'cat <&5 >"$d/in" & w=$!\n'
        'echo "$r $(started $r) $w $(started $w)" >"$d/channel"\n'
        'wait "$w"\n'
        'kill "$r" 2>/dev/null\n'
    )
)

#: An interactive shell on a PTY (bash where the image has it), its process group noted.
START_TERMINAL = _GUARD + (
    'umask 077; mkdir -p "$d" || exit 1\n'
    + _TRUSTED
    + _REFUSE
    + 'echo "$$ $(started $$)" >"$d/pid" || exit 1\n'
    "if command -v bash >/dev/null 2>&1; then exec bash -i; fi\n"
    "exec sh -i\n"
)

#: Interrupts the command in flight: SIGINT to the session's process group (the shell
#: survives it; background jobs of a shell without job control ignore it).
INTERRUPT = _GUARD + _TRUSTED + " && " + _SHELL_ALIVE + ' && kill -INT "-$pg"\n'

#: Ends the session's processes (its background jobs too) and removes its directory.
CLOSE = (
    _GUARD
    + _TRUSTED
    + _REFUSE
    + "if "
    + _SHELL_ALIVE
    + "; then\n"
    + '  kill -HUP "-$pg"\n'
    + '  for _ in 1 2 3 4 5 6 7 8 9 10; do ours "$pg" "$ps" || break; sleep 0.1; done\n'
    + '  ours "$pg" "$ps" && kill -KILL "-$pg"\n'
    + "fi 2>/dev/null\n"
    + _END_CHANNEL
    + 'rm -rf "$d"\n'
)


def session_dir(session_id: str) -> str:
    """Where a session's FIFOs and process ids live in its container."""
    if not _SESSION_ID.fullmatch(session_id):
        raise InvalidInput(f"not a session id: {session_id!r}")
    return f"{SESSIONS_DIR}/{session_id}"


def script_argv(script: str, session_id: str) -> list[str]:
    """The argv that runs one of the scripts above for a session."""
    return ["sh", "-c", script, SESSION_MARK, session_dir(session_id)]


def is_session_process(argv: Sequence[str]) -> bool:
    """Whether an exec's argv is one of a session's processes (not the user's work)."""
    return len(argv) >= 4 and argv[1] == "-c" and argv[3] == SESSION_MARK


def check_command(command: str) -> bytes:
    """The command as the frame carries it; ``InvalidInput`` when it cannot go."""
    data = command.encode()
    if not command.strip():
        raise InvalidInput("the command is empty")
    if "\0" in command:
        raise InvalidInput("a command cannot contain NUL bytes")
    if len(data) > COMMAND_MAX:
        raise InvalidInput(f"the command is {len(data)} bytes, the limit is {COMMAND_MAX}")
    return data


def frame(command: str, token: str) -> bytes:
    """The input that runs ``command`` in the command shell, between ``token``'s markers."""
    check_command(command)
    return (
        f"__dy_c={shlex.quote(command)}\n"
        f"printf '\\036DY-BEGIN {token}\\n'; eval \"$__dy_c\" </dev/null\n"
        f'printf \'\\n\\036DY-END {token} %d %s\\n\' "$?" "$PWD"\n'
    ).encode()


def interrupted_frame(token: str) -> bytes:
    """Sent after an interrupt: the shell drops the rest of an interrupted line, so the
    end marker comes again as a line of its own (a second one is skipped as stale)."""
    return f"printf '\\n\\036DY-END {token} {INTERRUPTED} %s\\n' \"$PWD\"\n".encode()


@dataclass(frozen=True, slots=True)
class Finished:
    """How a command ended: its exit code and the shell's working directory after it."""

    exit_code: int
    cwd: str


@dataclass(frozen=True, slots=True)
class Gone:
    """The session's shell ended (``exit``, or its container restarted)."""


class Reader:
    """Turns a channel's output into one command's output and its end.

    ``feed`` takes bytes as they arrive and returns the command's output among them
    (held back only as far as a marker could be cut across two reads); ``end`` is set
    once the end marker (``Finished``) or the ``gone`` marker (``Gone``) was read.
    """

    def __init__(self, token: str) -> None:
        self._begin = _BEGIN + token.encode() + b"\n"
        self._end = _END + token.encode() + b" "
        self._buffer = b""
        self._begun = False
        self.end: Finished | Gone | None = None

    def feed(self, data: bytes) -> bytes:
        if self.end is not None:
            return b""
        self._buffer += data
        if not self._begun:
            return self._sync()
        return self._output()

    def _sync(self) -> bytes:
        at = self._buffer.find(self._begin)
        if at < 0:
            return self._ended_unbegun()
        self._begun = True
        self._buffer = self._buffer[at + len(self._begin) :]
        return self._output()

    def _ended_unbegun(self) -> bytes:
        """Before the begin marker: the command's end can still come (an interrupt that
        landed before the shell began it: the shell drops the line, the end is sent
        again), or the shell's."""
        end_at = self._buffer.find(self._end)
        if end_at >= 0:
            line_end = self._buffer.find(b"\n", end_at + len(self._end))
            if line_end >= 0:
                self.end = _finished(self._buffer[end_at + len(self._end) : line_end])
                self._buffer = b""
            else:
                self._buffer = self._buffer[end_at:]
            return b""
        if _GONE in self._buffer:
            self.end = Gone()
        self._buffer = self._buffer[-max(len(self._begin), len(self._end)) :]
        return b""

    def _output(self) -> bytes:
        at = self._buffer.find(self._end)
        if at >= 0:
            line_end = self._buffer.find(b"\n", at + len(self._end))
            if line_end < 0:
                out, self._buffer = self._buffer[:at], self._buffer[at:]
                return out
            self.end = _finished(self._buffer[at + len(self._end) : line_end])
            out, self._buffer = self._buffer[:at], b""
            return out
        gone = self._buffer.find(b"\n" + _GONE)
        if gone >= 0:
            self.end = Gone()
            out, self._buffer = self._buffer[:gone], b""
            return out
        held = self._marker_start()
        out, self._buffer = self._buffer[:held], self._buffer[held:]
        return out

    def _marker_start(self) -> int:
        """Where a marker cut off at the end of the buffer could begin (else its end):
        only that much is held back, so output streams as it comes."""
        longest = max(len(self._end), len(_GONE) + 1)
        at = self._buffer.find(b"\n", max(0, len(self._buffer) - longest))
        while at >= 0:
            tail = self._buffer[at:]
            if self._end.startswith(tail) or (b"\n" + _GONE).startswith(tail):
                return at
            at = self._buffer.find(b"\n", at + 1)
        return len(self._buffer)


def _finished(line: bytes) -> Finished:
    code, _, cwd = line.decode(errors="replace").partition(" ")
    return Finished(exit_code=int(code) if code.isdigit() else -1, cwd=cwd)
