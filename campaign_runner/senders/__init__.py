"""Sender adapters: deliver one rendered message."""
