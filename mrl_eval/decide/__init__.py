"""Decisions: recommend under a rule, compare two runs under a gate."""
