"""The resident portal's pages."""
