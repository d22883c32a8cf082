"""text → clauses: boilerplate removal, structure, exact offsets into the decoded source.

(Contract fixed; implementation in progress.)
"""

from __future__ import annotations

from dataclasses import dataclass

CLAUSE_KINDS = ("lead", "item_title", "sentence")


@dataclass(frozen=True)
class Clause:
    """One sentence (or item title, or lead sentence) of a plan, pointing back into its source.

    `spans` are half-open `[start, end)` character offsets into the decoded source text;
    `text == "".join(source[s:e] for s, e in spans)` always holds. `match_text` is the
    normalised form used for encoding and matching only, never shown as source.
    """

    plan_id: str
    n: int  # 1-based position of the clause within its plan
    kind: str  # one of CLAUSE_KINDS
    text: str
    match_text: str
    spans: tuple[tuple[int, int], ...]
    section_number: int | None = None
    section_title: str | None = None
    item_number: int | None = None
    item_title: str | None = None

    @property
    def clause_id(self) -> str:
        return f"{self.plan_id}#{self.n}"

    @property
    def path(self) -> str:
        """Human-readable location: `一、section › 3. item`."""
        ...


def segment(text: str, plan_id: str) -> list[Clause]:
    """Cut a decoded plan into clauses."""
    raise NotImplementedError
