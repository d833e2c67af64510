"""Request bodies: validated at the boundary, unknown fields rejected."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from dockyard.core.model import PolicyOverrides, SaveStrategy, SessionKind
from dockyard.settings import Duration, Size


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(Body):
    memory: Size | None = Field(None, description="memory limit, bytes or e.g. '2g'")
    cpus: float | None = Field(None, gt=0, le=1024)
    pids: int | None = Field(None, ge=16, le=4_194_304)


class Policy(Body):
    idle_timeout: Duration | None = None

    def overrides(self) -> PolicyOverrides:
        return PolicyOverrides(idle_timeout=self.idle_timeout)


class AcquireBody(Body):
    key: str = Field(min_length=1, max_length=255)
    owner: str | None = Field(None, min_length=1, max_length=255)
    repo: str | None = Field(None, min_length=1, max_length=2048)
    branch: str | None = Field(None, min_length=1, max_length=255)
    image: str | None = Field(None, min_length=1, max_length=512)
    resources: Resources = Resources()
    labels: dict[str, str] = Field(default_factory=dict)
    keep: bool | None = None
    strategy: SaveStrategy | None = None
    policy: Policy = Policy()
    from_checkpoint: str | None = Field(None, min_length=1, max_length=64)


class ExtendBody(Body):
    by: Duration = Field(description="e.g. '30m'")


class ExecBody(Body):
    command: Annotated[list[Annotated[str, Field(max_length=65536)]], Field(min_length=1)]
    timeout: Duration | None = Field(None, description="kill the command after this long")
    session: str | None = Field(None, max_length=64, description="a session this exec uses")
    workdir: str | None = Field(None, pattern=r"^/\S*$")
    env: dict[str, str] = Field(default_factory=dict)


class SessionBody(Body):
    kind: SessionKind = SessionKind.API
    description: str = Field("", max_length=255)


class TokenBody(Body):
    owner: str | None = Field(None, min_length=1, max_length=255)
    description: str = Field("", max_length=255)
