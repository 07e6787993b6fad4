"""Replay of recorded and scripted calls through the live call engine, for quality assurance."""
