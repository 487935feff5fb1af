"""Dead letters as a pull returns them, for the dead-letter tool's unit tests (no Pub/Sub)."""

from types import SimpleNamespace

from transactions.dead_letters import dead_letter


def received(number: int, stage: str, reason: str, **extra: str):
    letter = dead_letter(f"body {number}".encode(), {"transaction_id": f"t{number}", **extra}, stage, reason, "why")
    message = SimpleNamespace(
        data=letter.data, attributes=letter.attributes, publish_time=number, message_id=str(number)
    )
    return SimpleNamespace(message=message, ack_id=f"ack-{number}")
