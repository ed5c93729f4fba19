"""`goalbot export`: a tenant's tables written as CSV files in a folder, or as one JSON document."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from bot.export import TABLES


def write(found: dict[str, list[dict]], out: Path, form: str) -> list[Path]:
    """Write the tables: CSV, one file per table in the folder `out`; JSON, one document at `out`."""
    if form == "json":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(found, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLES:
        rows = found[name]
        buffer = io.StringIO()
        columns = list(rows[0]) if rows else _COLUMNS[name]
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _cell(value) for key, value in row.items()})
        path = out / f"{name}.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        written.append(path)
    return written


def _cell(value):
    """A value as a spreadsheet reads it safely: a text that starts like a formula is kept as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


_COLUMNS = {
    "goals": ["reference", "title", "description", "level", "status", "health", "progress", "note", "owner",
              "owner_unit", "parent", "category", "private", "start_date", "due_date", "created_at", "updated_at"],
    "key_results": ["reference", "goal", "metric", "start", "target", "current", "unit", "updated_at"],
    "milestones": ["goal", "position", "title", "due_date", "done_at", "created_at"],
    "check_ins": ["person", "period", "answer", "answered_at", "updated_at"],
    "kudos": ["from", "to", "goal", "message", "created_at"],
    "history": ["goal", "at", "by", "action", "before", "after"],
    "people": ["email", "name", "manager", "unit", "role", "timezone", "goals", "achieved", "aligned", "alignable",
               "check_ins_answered", "check_ins_asked", "kudos_received"],
}
