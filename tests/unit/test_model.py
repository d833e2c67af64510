from __future__ import annotations

import pytest

from dockyard.core.errors import IllegalTransition
from dockyard.core.model import TRANSITIONS, State
from tests.helpers import T0, workspace

S = State


def test_every_state_has_a_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(State)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (S.CREATING, S.RUNNING),
        (S.RUNNING, S.WARNED),
        (S.WARNED, S.RUNNING),
        (S.RUNNING, S.STOPPED),
        (S.STOPPED, S.RUNNING),
        (S.RUNNING, S.PARKING),
        (S.PARKING, S.PARKED),
        (S.PARKED, S.RESTORING),
        (S.RESTORING, S.RUNNING),
        (S.PARKED, S.EXPIRED),
        (S.FAILED, S.RESTORING),
        (S.REMOVED, S.CREATING),
    ],
)
def test_lifecycle_transitions_are_allowed(start: State, end: State) -> None:
    moved = workspace(state=start).transition(end, now=T0, reason="why")
    assert moved.state is end
    assert moved.reason == "why"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (S.PARKED, S.RUNNING),  # must restore first
        (S.CREATING, S.PARKED),
        (S.EXPIRED, S.RUNNING),
        (S.STOPPED, S.WARNED),
        (S.REMOVED, S.RUNNING),
    ],
)
def test_illegal_transitions_raise(start: State, end: State) -> None:
    with pytest.raises(IllegalTransition, match=f"from {start} to {end}"):
        workspace(state=start).transition(end, now=T0)


@pytest.mark.parametrize("state", [s for s in State if s is not S.REMOVED])
def test_any_state_can_be_removed_on_request(state: State) -> None:
    assert S.REMOVED in TRANSITIONS[state]


@pytest.mark.parametrize(
    "state", [S.CREATING, S.RUNNING, S.WARNED, S.STOPPED, S.PARKING, S.RESTORING]
)
def test_live_states_can_fail(state: State) -> None:
    assert S.FAILED in TRANSITIONS[state]
