"""contact domain."""
