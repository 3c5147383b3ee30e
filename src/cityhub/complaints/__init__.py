"""Complaints: a channel's complaint about a payment or a service, its deadline, escalation,
and what the hub resolves on its own (a bill the ledger shows paid twice)."""
