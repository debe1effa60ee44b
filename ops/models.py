from django.db import models


class Heartbeat(models.Model):
    """The last time a worker ran the heartbeat task (a django-q2 schedule, every minute):
    proof for /readyz that some worker cluster takes tasks off the queue and runs them."""

    name = models.CharField(max_length=50, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
