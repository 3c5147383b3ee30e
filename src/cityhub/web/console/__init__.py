"""The city console's pages."""
