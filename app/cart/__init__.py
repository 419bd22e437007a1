"""cart domain."""
