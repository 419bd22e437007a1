"""The contact form: a visitor writes to the shop owner."""
