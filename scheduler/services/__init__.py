"""The scheduler's services: what views, the API, tasks and signals call; they check, record
and queue tasks. HA (heartbeats, fencing, restarts) is in `scheduler/failover.py`.

The scheduler plans, compute acts: migrations go through compute's migration contract
(`compute.services.migration.start_migration`), host states through compute's
`set_host_state`. Hypervisor calls (liveness probes, CPU baselines) happen in tasks.py only.
"""
