"""Chat-archive messages (会话存档) pushed by a tenant's archive puller: which customer each one concerns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_TEXT = 2000


def is_external(user_id: str) -> bool:
    """WeCom external contact ids start with wm/wo; staff UserIDs are the corp's own."""
    return user_id.startswith(("wm", "wo"))


class ArchivedMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    msgid: str = Field(min_length=1, max_length=128)
    from_: str = Field(alias="from", min_length=1, max_length=128)
    tolist: list[str] = Field(default_factory=list, max_length=1000)
    roomid: str | None = Field(default=None, max_length=128)
    msgtime: int = Field(ge=0, description="milliseconds since the epoch, as the archive SDK gives it")
    msgtype: str = Field(min_length=1, max_length=32)
    text: str | None = Field(default=None, max_length=20000)

    def customers(self) -> list[str]:
        """The external contacts a message belongs to: its sender, or in a one-to-one chat its recipient.
        A staff message to a group is not copied onto every member's timeline."""
        if is_external(self.from_):
            return [self.from_]
        if self.roomid:
            return []
        return [t for t in self.tolist if is_external(t)]

    def staff(self) -> str | None:
        if not is_external(self.from_):
            return self.from_
        return next((t for t in self.tolist if not is_external(t)), None)


class ArchivedBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[ArchivedMessage] = Field(min_length=1, max_length=500)
