"""Reading the tables of the project's Markdown documents, for tests that keep them true."""

from pathlib import Path


def table_after(path: Path, first_header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header row starts with ``| first_header |``."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows
