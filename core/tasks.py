"""django-q2 entry points of the core app."""

from core import checkpoints


def checkpoint_audit_chain():
    """The schedule made by core's bootstrap."""
    checkpoints.write_checkpoint()
