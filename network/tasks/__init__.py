"""network's Celery tasks and the steps they run, one module per subject: objects (realise or
remove one object), status (ports' link state, members' health), sync. Celery's autodiscovery
imports this package; importing the modules here registers every task. Task names are explicit
(name=...) and keep the dotted paths of the module they came from (network.tasks)."""

from network.tasks import objects, status, sync  # noqa: F401
