"""Login limits on their own: reserved attempts, the three windows, and bounded memory."""

from __future__ import annotations

import pytest

from voice.web.login_guard import LoginGuard, LoginLimits

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_attempts_in_flight_count_so_simultaneous_guesses_cannot_all_be_checked():
    guard = LoginGuard(LoginLimits(per_pair=5), Clock())
    reserved = [guard.begin("erika", "10.0.0.1") for _ in range(41)]  # none finished yet
    assert sum(a is not None for a in reserved) == 5


def test_the_owner_at_another_address_is_not_locked_out_by_a_guesser():
    clock = Clock()
    guard = LoginGuard(LoginLimits(per_pair=5, per_account=50), clock)
    for _ in range(5):
        assert guard.begin("erika", "203.0.113.9") is not None
    assert guard.begin("erika", "203.0.113.9") is None
    owner = guard.begin("erika", "10.0.0.1")
    assert owner is not None
    guard.succeeded(owner)
    clock.now += 601
    assert guard.begin("erika", "203.0.113.9") is not None  # the window has passed


def test_one_address_trying_many_names_and_many_addresses_one_name_are_both_limited():
    guard = LoginGuard(LoginLimits(per_pair=5, per_address=20, per_account=50), Clock())
    assert sum(guard.begin(f"name{i}", "198.51.100.7") is not None for i in range(100)) == 20
    assert sum(guard.begin("root", f"192.0.2.{i}") is not None for i in range(100)) == 50


def test_a_success_is_not_a_failure_and_memory_stays_bounded():
    guard = LoginGuard(LoginLimits(per_pair=2, max_keys=100), Clock())
    for _ in range(10):
        attempt = guard.begin("erika", "10.0.0.1")
        assert attempt is not None
        guard.succeeded(attempt)
    for i in range(5000):
        guard.begin(f"random-{i}", f"10.{i // 250}.{i % 250}.1")
    assert guard.size() <= 300  # three tables of at most 100 keys
