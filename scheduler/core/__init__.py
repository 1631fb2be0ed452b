"""The scheduler's decision core: plain functions over a snapshot of cluster state.

No Django here. `model` holds the snapshot and the named constants; `placement`, `drs`,
`dpm`, `ha` and `evc` decide and return plans; the scheduler app's services act on them.
"""
