"""addresses domain."""
