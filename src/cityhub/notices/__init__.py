"""Notices: government accounts, topics, templates, inboxes, delivery and conversion."""
