"""Engine JSON is parsed at the boundary; these are payloads recorded from dockerd 20.10."""

from __future__ import annotations

import gc
import json
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.errors import EngineError, InvalidInput
from dockyard.engine.http import EngineTransport
from dockyard.engine.models import (
    ContainerInfo,
    ContainerSpec,
    ContainerSummary,
    EngineEvent,
    EngineInfo,
    ExecInfo,
    ImageInfo,
    VolumeInfo,
    VolumeMount,
    parse_timestamp,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "docker"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_running_container() -> None:
    info = ContainerInfo.from_api(load("container_running.json"))
    assert info.name == "fixrun"
    assert info.running and info.status == "running"
    assert info.labels["dockyard.workspace"] == "fix"
    assert info.volumes == ["fixvol"]
    assert info.memory_bytes == 256 * 1024**2 and info.pids_limit == 64
    assert info.started_at is not None and info.finished_at is None


def test_exited_container_keeps_its_exit_code() -> None:
    info = ContainerInfo.from_api(load("container_exited.json"))
    assert not info.running and info.status == "exited"
    assert info.exit_code == 3
    assert info.finished_at is not None and info.finished_at >= info.started_at  # type: ignore[operator]


def test_created_container_was_never_started() -> None:
    info = ContainerInfo.from_api(load("container_created.json"))
    assert info.status == "created"
    assert info.started_at is None and info.finished_at is None


def test_listing() -> None:
    entries = [ContainerSummary.from_api(c) for c in load("container_list.json")]
    by_name = {e.name: e for e in entries}
    assert by_name["fixrun"].running
    assert by_name["fixexit"].status == "exited"
    assert all(e.created_at is not None for e in entries)


def test_volume_image_exec_version() -> None:
    volume = VolumeInfo.from_api(load("volume.json"))
    assert volume.name == "fixvol" and volume.labels == {"dockyard.managed": "true"}
    image = ImageInfo.from_api(load("image.json"))
    assert "dockyard/workspace:latest" in image.tags and image.size > 0
    execution = ExecInfo.from_api(load("exec_inspect.json"))
    assert execution.exit_code == 0 and not execution.running
    engine = EngineInfo.from_api("unix:///x", load("version.json"))
    assert engine.kind == "docker" and engine.api_version == "1.41"


def test_events() -> None:
    lines = (FIXTURES / "events.jsonl").read_text().splitlines()
    events = [EngineEvent.from_api(json.loads(line)) for line in lines]
    actions = {e.action for e in events}
    assert {"create", "start", "die"} <= actions
    assert all(e.time is not None and e.time.tzinfo is UTC for e in events)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T16:43:01.123456789Z", datetime(2026, 11, 22, 16, 43, 1, 123456, tzinfo=UTC)),
        ("2026-11-22T16:43:01Z", datetime(2026, 11, 22, 16, 43, 1, tzinfo=UTC)),
        ("2026-11-22T18:43:01.5+02:00", datetime(2026, 11, 22, 16, 43, 1, 500000, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
        ("", None),
        (1763829781, datetime.fromtimestamp(1763829781, UTC)),
        (0, None),
    ],
)
def test_timestamps(text: object, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


def test_garbage_timestamp_is_an_engine_error() -> None:
    with pytest.raises(EngineError):
        parse_timestamp("yesterday")


def test_spec_to_api() -> None:
    spec = ContainerSpec(
        name="n",
        image="img",
        command=["sleep", "infinity"],
        labels={"a": "b"},
        mounts=[VolumeMount(volume="v", target="/workspace")],
        env={"K": "V"},
        workdir="/workspace",
        memory_bytes=1024,
        nano_cpus=10**9,
        pids_limit=64,
    )
    body = spec.to_api()
    assert body["HostConfig"]["Init"] is True
    assert body["HostConfig"]["Mounts"] == [
        {"Type": "volume", "Source": "v", "Target": "/workspace", "ReadOnly": False}
    ]
    assert body["HostConfig"]["Memory"] == 1024 and body["HostConfig"]["PidsLimit"] == 64
    assert body["Env"] == ["K=V"]
    assert "NetworkMode" not in body["HostConfig"]  # the engine's default network
    assert "NetworkDisabled" not in body
    assert replace(spec, network="lab").to_api()["HostConfig"]["NetworkMode"] == "lab"
    isolated = replace(spec, network="none").to_api()  # no endpoint, not the "none" network
    assert (isolated["NetworkDisabled"], "NetworkMode" in isolated["HostConfig"]) == (True, False)


@pytest.mark.parametrize("url", ["ftp://x", "unix://", "tcp://", "nonsense"])
def test_bad_engine_urls(url: str) -> None:
    with pytest.raises(InvalidInput, match="engine URL"):
        EngineTransport(url)


def test_a_finished_threads_connection_is_not_kept_open() -> None:
    transport = EngineTransport("unix:///run/dockyard-test-none.sock")
    workers = [threading.Thread(target=transport._pooled) for _ in range(3)]
    for worker in workers:
        worker.start()
        worker.join()
    gc.collect()
    assert len(transport._all) == 0  # what close() would still have to close
