"""storage's pages."""
