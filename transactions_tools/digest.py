"""A table's fingerprint: its row count and a sha256 over every row key, cell and timestamp.

Two loads that must agree (two sinks in a benchmark, a file read in one range or in many, one
worker or two) are compared by it, so "the same table" means every byte and every timestamp.
"""

from __future__ import annotations

import hashlib

from transactions_tools import defaults
from transactions_wire import clients


def table_digest(name: str, project: str = defaults.PROJECT, instance: str = defaults.INSTANCE) -> tuple[int, str]:
    """(rows, sha256 of every cell with its timestamp) of a table, in key order."""
    digest = hashlib.sha256()
    rows = 0
    with clients.bigtable_admin(project) as client:
        for row in client.instance(instance).table(name).read_rows():
            rows += 1
            digest.update(row.row_key)
            for family, columns in sorted(row.cells.items()):
                for qualifier, cells in sorted(columns.items()):
                    for cell in cells:
                        digest.update(f"|{family}:{qualifier!r}={cell.value!r}@{cell.timestamp.isoformat()}".encode())
    return rows, digest.hexdigest()
