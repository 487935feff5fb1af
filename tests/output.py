"""What a person sees of a refused input: exactly one line, no traceback, no raw control character.
And what a test reads in a command's output: :func:`first_group`."""

import re


def one_clean_line(err: str, max_length: int) -> str:
    """The only line of ``err``, checked: no traceback, no C0/C1 control character, bounded."""
    lines = err.splitlines()
    assert len(lines) == 1, err[:2000]
    line = lines[0]
    assert "Traceback" not in line
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in line), line[:500]
    assert len(line) < max_length, len(line)
    return line


def first_group(pattern: str, text: str, flags: int = 0) -> str:
    """The first group of ``pattern``'s first match in ``text``; the test fails if there is none."""
    found = re.search(pattern, text, flags)
    assert found, f"{pattern!r} not found in:\n{text[-3000:]}"
    return found.group(1)
