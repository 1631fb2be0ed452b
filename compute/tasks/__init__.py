"""compute's Celery tasks, one module per subject. Celery's autodiscovery imports this package;
importing the modules here registers every task. Task names are explicit (name=...) and keep
the dotted paths of the modules they came from, so queued messages and beat entries still match."""

from compute.tasks import (  # noqa: F401
    capture,
    evacuation,
    hosts,
    images,
    instances,
    lifecycle,
    metrics,
    migration,
    overcommit,
    restart,
)
