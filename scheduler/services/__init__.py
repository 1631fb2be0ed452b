"""The scheduler's services: what views, the API and beat (scheduler/beat.py) call; they check,
record and queue tasks. The tasks package holds the work: host power, HA (heartbeats, fencing,
restarts), applying recommendations, the EVC baseline.

The scheduler plans, compute acts: migrations go through compute's migration contract
(`compute.services.migration.start_migration`), host states through compute's
`set_host_state`. Hypervisor calls (liveness probes, CPU baselines) happen in the tasks only.
"""
