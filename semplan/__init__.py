"""semplan."""
