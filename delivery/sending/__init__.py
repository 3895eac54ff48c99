"""Sending a campaign's messages: ``send_batches`` (``pipeline``) is the one entry point,
called by the ``delivery.tasks.send_batches`` task."""

from .pipeline import send_batches

__all__ = ["send_batches"]
