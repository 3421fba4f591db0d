"""What `lotse content check` reports: a problem, where it is, and what the editor should do.

Errors stop content from loading (and a running server keeps its last good content); warnings do
not stop anything but need a person: an offer nobody has checked for a year, a translation whose
German changed. Both name the file and line to open.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

SEVERITIES: tuple[str, ...] = ("error", "warning")


@dataclass(frozen=True)
class Finding:
    severity: str  # error | warning
    path: str
    line: int | None
    message: str
    hint: str = ""  # what to do, when the message alone does not say it
    language: str | None = None  # for translations: whose translators should act

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def __str__(self) -> str:
        text = f"{self.where}: {self.severity}: {self.message}"
        return f"{text}\n    → {self.hint}" if self.hint else text

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    def sort_key(self) -> tuple[int, str, int]:
        return (SEVERITIES.index(self.severity), self.path, self.line or 0)
