"""Tests of what every domain stands on: attempt counters, client addresses."""
