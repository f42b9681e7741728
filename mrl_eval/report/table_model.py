"""The one table model: a table built once, as data (title, header, rows, which row is highlighted), that every
output renders (terminal, Markdown, step summary, HTML, CSV); and the interval and byte formats every table shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Table:
    """A table as data. `highlighted` is the row to emphasise (the recommendation), `failed` the rows that fail a
    gate; `text_columns` are left-aligned and may wrap (ids, query text), the others are right-aligned numbers.
    Two narrower views of the same table: `compact()` leaves out the `detail_columns` (the step summary), and
    `glance()` keeps only the `key_columns` and `key_rows` (the terminal at 80 columns; the reports and
    `--wide` show the whole table). A table that is `detail` as a whole is left out of the glance.
    `intervals` maps an interval column to the column of the value it is the interval of (HTML stacks them)."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    highlighted: int | None = None
    failed: frozenset[int] = frozenset()
    text_columns: frozenset[int] = frozenset()
    detail_columns: frozenset[int] = frozenset()
    key_columns: frozenset[int] | None = None  # None: the compact view's columns
    key_rows: frozenset[int] | None = None  # None: every row
    detail: bool = False
    intervals: tuple[tuple[int, int], ...] = ()  # (interval column, its value's column)
    notes: tuple[str, ...] = field(default=())

    def compact(self) -> Table:
        """The table without its detail columns."""
        return self._keep([i for i in range(len(self.header)) if i not in self.detail_columns], None)

    def glance(self) -> Table:
        """The table at a glance: its key columns and key rows."""
        if self.key_columns is None:
            return self.compact()._keep(None, self.key_rows)
        return self._keep(sorted(self.key_columns), self.key_rows)

    def _keep(self, columns: list[int] | None, rows: frozenset[int] | None) -> Table:
        """These columns (None: all) of these rows (None: all), the highlighted and failed rows renumbered."""
        keep = list(range(len(self.header))) if columns is None else columns
        kept = [n for n in range(len(self.rows)) if rows is None or n in rows]
        renumber = {old: new for new, old in enumerate(kept)}
        return replace(
            self,
            header=tuple(self.header[i] for i in keep),
            rows=tuple(tuple(self.rows[n][i] for i in keep) for n in kept),
            highlighted=renumber.get(self.highlighted) if self.highlighted is not None else None,
            failed=frozenset(renumber[n] for n in self.failed if n in renumber),
            text_columns=frozenset(n for n, i in enumerate(keep) if i in self.text_columns),
            detail_columns=frozenset(n for n, i in enumerate(keep) if i in self.detail_columns),
            intervals=tuple(
                (keep.index(ci), keep.index(value)) for ci, value in self.intervals if ci in keep and value in keep
            ),
            key_columns=None,
            key_rows=None,
        )

    @staticmethod
    def interval_pairs(header: Sequence[str], pairs: Mapping[str, str]) -> tuple[tuple[int, int], ...]:
        """`intervals` from header names: {interval header: value header}, for the names the header has."""
        return tuple((header.index(ci), header.index(v)) for ci, v in pairs.items() if ci in header and v in header)

    @staticmethod
    def of(title: str, header: Sequence[str], rows: Sequence[Sequence[object]], **kwargs: object) -> Table:
        return Table(
            title,
            tuple(header),
            tuple(tuple("" if v is None else str(v) for v in row) for row in rows),
            **kwargs,  # type: ignore[arg-type]
        )


NOTHING = "—"  # a cell with no value: the full dim's delta from itself, which is zero by definition


def interval_header(level: str, whose: str) -> str:
    """The header of an interval column, saying whose interval it is: `95% CI of ndcg@10`, `95% CI of Δ`."""
    return f"{level} CI of {whose}".strip()


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
