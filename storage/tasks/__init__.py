"""storage's Celery tasks and the steps they run, one module per subject. Celery's autodiscovery
imports this package; importing the modules here registers every task. Task names are explicit
(name=...) and keep the dotted paths of the modules they came from."""

from storage.tasks import (  # noqa: F401
    chains,
    instance_snapshots,
    migration,
    outage,
    pools,
    reachability,
    snapshots,
    stream,
    volumes,
)
