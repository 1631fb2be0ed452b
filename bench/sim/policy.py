"""The DPM + DRS policy the simulator runs: production functions, these parameters."""

from __future__ import annotations

from scheduler.core.model import ClusterPolicy, DemandEstimator, HaAdmissionPolicy

# Host demand is the p90 of each host's summed series (state.py); a target top of 80 % of
# it keeps a host's next sample under 100 % about 99 % of the time on these traces.
SIM_POLICY = ClusterPolicy(
    dpm_enabled=True,
    dpm_target_low=0.60,  # tuned on 20110303; production's default is vSphere's 45-81 %
    dpm_target_high=0.80,
    dpm_min_hosts_on=1,
    dpm_max_evacuations=2,
    dpm_standby_window=24,  # standby judged on 2 h of demand (and 30 min of trend), wakes on 1 h
    dpm_standby_lookahead=6,
    drs_threshold=2,
    drs_max_target_load=0.80,
    drs_hysteresis_s=3600.0,
    demand_estimator=DemandEstimator.PERCENTILE,
    demand_window=12,
    demand_percentile=90.0,
    ha_admission=HaAdmissionPolicy.DISABLED,
)
