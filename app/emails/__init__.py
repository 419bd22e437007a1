"""The email outbox: emails recorded with the change that promises them, sent by a task."""
