"""The scheduler's Celery tasks and the steps they run, one module per subject: host power and
waking (power.py), HA (ha.py: heartbeats and the failover Operation; failover.py: fencing and
restarts; guest_heartbeat.py: hung guests), applying recommendations (recommendations.py), the
EVC baseline (evc.py). DRS and DPM runs started by beat call the services: scheduler/beat.py.
Celery's autodiscovery imports this package; importing the modules here registers every task.
Task names are explicit and keep scheduler.tasks.<name>, so queued messages still match."""

from scheduler.tasks import evc, failover, guest_heartbeat, ha, power, recommendations  # noqa: F401
