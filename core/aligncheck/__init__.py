"""aligncheck."""
