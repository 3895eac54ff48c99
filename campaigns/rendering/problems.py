"""What the renderer tells the editor: one problem per finding, with where it is."""

from dataclasses import asdict, dataclass
from enum import StrEnum


class Level(StrEnum):
    ERROR = "error"  # the campaign cannot be sent until it is fixed
    WARNING = "warning"  # worth a look; sending stays possible


class Source(StrEnum):
    """Which text the line number counts in, so the editor knows where to look."""

    BODY = "body"
    LAYOUT = "layout"
    SUBJECT = "subject"
    PREHEADER = "preheader"
    MESSAGE = "message"  # the rendered message as a whole (size, remote resources)


@dataclass(frozen=True)
class Problem:
    level: Level
    source: Source
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.message}"

    def located(self) -> str:
        """The problem with the text it is in, for lists outside the form ("Body, line 3: …")."""
        where = f", line {self.line}" if self.line else ""
        return f"{self.source.value.capitalize()}{where}: {self.message}"

    def as_dict(self) -> dict:
        return {**asdict(self), "level": str(self.level), "source": str(self.source)}

    @classmethod
    def from_dict(cls, data: dict) -> "Problem":
        return cls(
            level=Level(data["level"]),
            source=Source(data["source"]),
            message=data["message"],
            line=data.get("line"),
        )


class RenderError(Exception):
    """The pipeline stopped: ``problems`` holds at least one error."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


def line_of(text: str, offset: int) -> int:
    """1-based line number of ``offset`` in ``text``."""
    return text.count("\n", 0, offset) + 1
