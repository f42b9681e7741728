"""The one table model: a table built once, as data (title, header, rows, which row is highlighted), that every
output renders (terminal, Markdown, step summary, HTML, CSV); and the interval and byte formats every table shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Table:
    """A table as data. `highlighted` is the row to emphasise (the recommendation), `failed` the rows that fail a
    gate; `text_columns` are left-aligned and may wrap (ids, query text), the others are right-aligned numbers;
    `detail_columns` are left out of the compact views (the terminal, the step summary) by `compact()`."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    highlighted: int | None = None
    failed: frozenset[int] = frozenset()
    text_columns: frozenset[int] = frozenset()
    detail_columns: frozenset[int] = frozenset()
    notes: tuple[str, ...] = field(default=())

    def compact(self) -> Table:
        """The table without its detail columns."""
        if not self.detail_columns:
            return self
        keep = [i for i in range(len(self.header)) if i not in self.detail_columns]
        return replace(
            self,
            header=tuple(self.header[i] for i in keep),
            rows=tuple(tuple(row[i] for i in keep) for row in self.rows),
            text_columns=frozenset(n for n, i in enumerate(keep) if i in self.text_columns),
            detail_columns=frozenset(),
        )

    @staticmethod
    def of(title: str, header: Sequence[str], rows: Sequence[Sequence[object]], **kwargs: object) -> Table:
        return Table(
            title,
            tuple(header),
            tuple(tuple("" if v is None else str(v) for v in row) for row in rows),
            **kwargs,  # type: ignore[arg-type]
        )


def interval(pair: Sequence[float], signed: bool = False) -> str:
    """A confidence interval as everywhere in the reports: `[0.7190, 0.7998]` (signed: `[-0.0120, +0.0031]`)."""
    low, high = pair[0], pair[1]
    return f"[{low:+.4f}, {high:+.4f}]" if signed else f"[{low:.4f}, {high:.4f}]"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
