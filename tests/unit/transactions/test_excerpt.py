"""The one rule for quoting input to a person (transactions/excerpt.py): bounded and escaped."""

import pytest

from transactions.excerpt import EXCERPT_CHARS, PATH_CHARS, escape, excerpt, message_line, path_line


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (b"plain", "'plain'"),
        ("it's a \\ path", "'it\\'s a \\\\ path'"),
        (b"\x1b[2J\x00\x07\n\r\t", "'\\x1b[2J\\x00\\x07\\n\\r\\t'"),
        (b"caf\xc3\xa9 \xff\xfe", "'café \\xff\\xfe'"),  # UTF-8 shown, other bytes as \xNN
        ("\u202egnp.exe", "'\\u202egnp.exe'"),  # a right-to-left override is not printable
        (None, "(none)"),
    ],
)
def test_an_excerpt_escapes_what_a_terminal_would_interpret(value, shown):
    assert excerpt(value) == shown


def test_an_excerpt_is_bounded_and_says_how_long_the_input_was():
    shown = excerpt(b"\x1b" * 20_000_000)
    assert shown.endswith("...' (20000000 bytes)")
    assert len(shown) <= EXCERPT_CHARS + len("''...' (20000000 bytes)")
    assert excerpt("x" * 500, limit=10) == "'xxxxxxxxxx...' (500 characters)"
    assert excerpt("x" * 10, limit=10) == "'xxxxxxxxxx'"


def test_a_message_line_is_one_escaped_bounded_line_without_quotes():
    assert message_line(ValueError("can't\nread\t\x1b[2J it")) == "can't read \\x1b[2J it"
    assert message_line("y" * 1000, limit=20) == "y" * 17 + "..."
    assert escape("ok") == "ok" and escape("a\x00b") == "a\\x00b" and escape("'", quoted=True) == "\\'"


def test_a_file_name_is_shown_escaped_and_bounded():
    assert path_line("/data/sales\x1b[2J.csv") == "/data/sales\\x1b[2J.csv"
    assert len(path_line("/d/" + "x" * 1000)) == PATH_CHARS
