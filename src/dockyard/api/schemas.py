"""Request bodies: validated at the boundary, unknown fields rejected."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, create_model

from dockyard.core.model import SaveStrategy, SessionKind
from dockyard.core.policy import ON_ACQUIRE, PolicyOverrides
from dockyard.settings import Duration, Size, knob_fields


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(Body):
    memory: Size | None = Field(None, description="memory limit, bytes or e.g. '2g'")
    cpus: float | None = Field(None, gt=0, le=1024)
    pids: int | None = Field(None, ge=16, le=4_194_304)


class PolicyBase(Body):
    """The workspace's own values of the policy knobs an acquire may set (``core.policy``)."""

    def overrides(self) -> PolicyOverrides:
        return PolicyOverrides(**{name: getattr(self, name) for name in ON_ACQUIRE})


if TYPE_CHECKING:
    Policy = PolicyBase
else:
    Policy = create_model(
        "Policy",
        __base__=PolicyBase,
        __module__=__name__,
        __doc__=PolicyBase.__doc__,
        **knob_fields(names=ON_ACQUIRE, optional=True),
    )


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
