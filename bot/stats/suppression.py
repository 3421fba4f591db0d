"""Which counts may not be shown, so that no number points to a person.

Primary suppression: a count of 1 to threshold-1 is hidden (0 is shown: it describes nobody).
Secondary suppression: a hidden count must not be recoverable by subtraction. Every published
total is registered as a `Line` (its parts add up to it, across tables: the outcomes' total is
the sum of all weekly topic counts, the handovers by priority are sums of the handovers by
reason); a line with exactly one hidden entry gets a second one hidden, until no line has
exactly one. The second is the entry that starts the fewest new such lines (hiding a total can
end a cascade that hiding a part would start), and among those the smallest. This is the usual minimum; it does not solve the full
linear system an attacker could set up from several lines together, nor differences between two
requests with different filters.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

Key = Hashable


@dataclass(frozen=True)
class Line:
    """`parts` add up to `total`; all of them may be published."""

    parts: tuple[Key, ...]
    total: Key


@dataclass(frozen=True)
class Protection:
    primary: frozenset[Key]  # below the threshold
    secondary: frozenset[Key]  # hidden only so that a primary one cannot be computed

    def hidden(self, key: Key) -> bool:
        return key in self.primary or key in self.secondary


def protect(values: Mapping[Key, int], lines: Iterable[Line], threshold: int) -> Protection:
    primary = {key for key, value in values.items() if 0 < value < threshold}
    hidden = set(primary)
    lines = list(lines)
    changed = True
    while changed:
        changed = False
        for line in lines:
            members = _members(line)
            if sum(key in hidden for key in members) != 1:
                continue
            shown = [k for k in members if k not in hidden and values[k] > 0]
            shown = shown or [k for k in members if k not in hidden]
            if shown:
                hidden.add(min(shown, key=lambda k: _cost(k, lines, hidden, values)))
                changed = True
    return Protection(frozenset(primary), frozenset(hidden - primary))


def _members(line: Line) -> tuple[Key, ...]:
    return (*line.parts, line.total)


def _cost(key: Key, lines: list[Line], hidden: set[Key], values: Mapping[Key, int]) -> tuple[int, int]:
    """Lines that hiding `key` would leave with one hidden entry (more to hide), then the value lost."""
    fresh = sum(1 for line in lines if key in _members(line) and not hidden.intersection(_members(line)))
    return fresh, values[key]
