"""Notices to members and HQ systems: consent, templates, a durable outbox, channels."""
