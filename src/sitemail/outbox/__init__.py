"""Durable delivery: the outbox table, enqueue, the worker and the email log."""
