"""The call runtime: what every transport shares in one process (scheduling, admission)."""
