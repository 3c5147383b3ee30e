"""Subsidy campaigns: a city's budget handed out through every channel, never exceeded, and
claimed by each person no more often than the campaign allows."""
