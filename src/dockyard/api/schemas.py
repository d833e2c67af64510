"""Request bodies: validated at the boundary, unknown fields rejected."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, create_model, model_validator

from dockyard.core.fleet import ENGINE_NAME
from dockyard.core.model import SaveStrategy, SessionKind
from dockyard.core.policy import ON_ACQUIRE, PolicyOverrides
from dockyard.settings import (
    Duration,
    ReconcilerSettings,
    RuleSettings,
    Size,
    knob_fields,
)


def _unicode(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_unicode(k) and _unicode(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_unicode(v) for v in value)
    return True


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _text_is_unicode(cls, data: Any) -> Any:
        """JSON can escape half of a surrogate pair (``\\udaff``), which no file name,
        label, git ref or database column can hold: refused here, naming none of it."""
        if not _unicode(data):
            raise ValueError("a string is not valid Unicode (an unpaired surrogate escape)")
        return data


class Resources(Body):
    memory: Size | None = Field(None, description="memory limit, bytes or e.g. '2g'")
    cpus: float | None = Field(None, gt=0, le=1024)
    pids: int | None = Field(None, ge=16, le=4_194_304)
    disk: Size | None = Field(
        None, description="a new workspace volume's own file system of this size, e.g. '64m'"
    )


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
    engine: str | None = Field(
        None, pattern=f"^{ENGINE_NAME.pattern}$", description="a new workspace goes there"
    )
    engine_labels: dict[str, str] = Field(
        default_factory=dict, description="a new workspace goes to an engine with these labels"
    )


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


class CommandBody(Body):
    command: str = Field(min_length=1, max_length=256 * 1024)
    timeout: Duration | None = Field(
        None, description="interrupt the command after this long (default 5m)"
    )


class TokenBody(Body):
    owner: str | None = Field(None, min_length=1, max_length=255)
    description: str = Field("", max_length=255)


#: The reconciler settings the API may change (its on/off switch is ``enabled``).
RECONCILER_FIELDS = ("max_interval", "workers", "busy_sample", "background_interval")


def fields_of(model: type[BaseModel], names: Iterable[str], *, optional: bool) -> dict[str, Any]:
    """``create_model`` definitions of ``model``'s fields ``names``, typed and bounded as
    there (``optional``: each may be left out, None), so the bounds are written once."""
    found: dict[str, Any] = {}
    for name in names:
        info = model.model_fields[name]
        kind: Any = (
            Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        )
        if optional:
            found[name] = (kind | None, Field(None, description=info.description))
        else:
            found[name] = (kind, Field(description=info.description))
    return found


if TYPE_CHECKING:
    ReconcilerChange = Body
    PolicyChange = Body
else:
    ReconcilerChange = create_model(
        "ReconcilerChange",
        __base__=Body,
        __module__=__name__,
        __doc__="The reconciler's intervals, and its on/off switch (kept across restarts).",
        **fields_of(ReconcilerSettings, RECONCILER_FIELDS, optional=True),
        enabled=(
            StrictBool | None,
            Field(None, description="start (true) or stop (false) the loop"),
        ),
    )
    PolicyChange = create_model(
        "PolicyChange",
        __base__=Body,
        __module__=__name__,
        __doc__="A partial change of the policy: the fields given, nothing else.",
        **knob_fields(optional=True),
        rules=(tuple[RuleSettings, ...] | None, Field(None, description="replaces the rules")),
        reconciler=(ReconcilerChange | None, None),
    )


def _examples(**values: Any) -> dict[str, Any]:
    return {name: {"value": value} for name, value in values.items()}


#: Examples in the schema: one that works, and the values out of bounds that once
#: answered 500 or were taken (the fuzz run sends every one of them).
ACQUIRE_EXAMPLES = _examples(
    plain={"key": "john@example.com-my-react-app", "owner": "john@example.com"},
    overflowing_memory={"key": "x-huge", "resources": {"memory": 99999999999999999999999999}},
    overflowing_idle_timeout={"key": "x-long", "policy": {"idle_timeout": "99999999999999d"}},
    zero_idle_timeout={"key": "x-zero", "policy": {"idle_timeout": "0s"}},
)
POLICY_EXAMPLES = _examples(
    plain={"idle_timeout": "2h", "reconciler": {"enabled": True}},
    overflowing_warn_before={"warn_before": "999999999999d"},
    zero_idle_timeout={"idle_timeout": "0s"},
    zero_max_interval={"reconciler": {"max_interval": "0s"}},
)
EXTEND_EXAMPLES = _examples(plain={"by": "30m"}, overflowing={"by": "99999999999d"})
