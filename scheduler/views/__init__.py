"""The scheduler's pages."""
