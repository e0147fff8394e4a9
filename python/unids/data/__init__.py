"""Data: loading, cleaning and synthetic generators of user sequences."""
