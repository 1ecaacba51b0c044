"""Notify service: turns the portal's events into e-mails (SMTP) and SMS (HTTP gateway), each sent exactly once."""
SERVICE = "notify"
