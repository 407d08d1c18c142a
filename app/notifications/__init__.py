"""Outgoing mail: an outbox written with the change that caused it, sent over SMTP."""
