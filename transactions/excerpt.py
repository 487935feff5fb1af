"""The one rule for quoting input to a person: a bounded, escaped excerpt, never raw bytes.

Every error, log line and report that shows bytes from a file, a message, an option or a dead
letter shows them through :func:`excerpt`: at most ``EXCERPT_CHARS`` characters of the input,
control and other non-printable characters escaped as ``repr`` escapes them (``\\x1b``,
``\\n``, ``\\u202e``), bytes that are not UTF-8 as ``\\xNN``, and the input's full length when it
was cut. A terminal that prints it interprets nothing, and a 20 MB line costs one short line.

Only the human-readable text is escaped: a dead letter's data keeps the original bytes.
"""

from __future__ import annotations

EXCERPT_CHARS = 120
"""The most characters of input an excerpt shows (escapes included)."""

_ESCAPES = {"\\": "\\\\", "'": "\\'"}


def _escaped(character: str, quoted: bool = True) -> str:
    if quoted and character in _ESCAPES:
        return _ESCAPES[character]
    if character.isprintable():
        return character
    code = ord(character)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (decoded with surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return repr(character)[1:-1]


def escape(text: str, quoted: bool = False) -> str:
    """``text`` with every non-printable character escaped, repr-style (``\\`` and ``'`` too when
    it is shown between quotes)."""
    if text.isprintable() and not (quoted and ("\\" in text or "'" in text)):
        return text
    return "".join(_escaped(character, quoted) for character in text)


def excerpt(value: bytes | str | None, limit: int = EXCERPT_CHARS) -> str:
    """``value`` quoted for a person: ``'abc\\x1b[2J...' (984278 bytes)``; bounded and escaped.

    Bytes are decoded as UTF-8, invalid bytes shown as ``\\xNN``; only the first few bytes are
    ever decoded, so the cost does not grow with the input.
    """
    if value is None:
        return "(none)"
    total = len(value)
    unit = "bytes" if isinstance(value, bytes | bytearray) else "characters"
    head = value[: limit * 4 + 4]
    text = bytes(head).decode("utf-8", errors="surrogateescape") if isinstance(head, bytes | bytearray) else head
    shown: list[str] = []
    used = 0
    cut = len(head) < total
    for character in text:
        piece = _escaped(character)
        if used + len(piece) > limit:
            cut = True
            break
        shown.append(piece)
        used += len(piece)
    quoted = "'" + "".join(shown) + ("...'" if cut else "'")
    return f"{quoted} ({total} {unit})" if cut else quoted


MESSAGE_CHARS = 300
"""The most characters of a library's or a service's message that an error line repeats."""


def message_line(error: BaseException | str, limit: int = MESSAGE_CHARS) -> str:
    """An exception's (or a service's) message as one line: whitespace collapsed, escaped, cut.

    Messages may span lines or quote what they were given (a file name, a value); an error line
    repeats them unquoted, but bounded and escaped like any other input.
    """
    if isinstance(error, BaseException):
        text = getattr(error, "message", None) or str(error) or type(error).__name__
    else:
        text = error
    flat = escape(" ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


PATH_CHARS = 200
"""The most characters of a file name that a line repeats."""


def path_line(path: object) -> str:
    """A file name as an error or log line shows it: unquoted, escaped, at most ``PATH_CHARS``
    (a name may hold anything but ``/`` and NUL, escape sequences included)."""
    return message_line(str(path), limit=PATH_CHARS)
