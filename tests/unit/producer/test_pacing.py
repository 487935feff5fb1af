"""The producer's drift-free schedule."""

from producer.pacing import Pacer


def test_pacer_grants_by_schedule_without_drift():
    now = [0.0]
    pacer = Pacer(100, clock=lambda: now[0], sleep=lambda s: None)
    granted = 0
    for _ in range(1000):  # 10 s in 10 ms steps, with jitter that must not accumulate
        granted += pacer.due(10)
        now[0] += 0.0101 if granted % 2 else 0.0099
    assert abs(granted - now[0] * 100) <= 2
