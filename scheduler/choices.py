"""Named constants of the scheduler app: states, kinds, and the numbers behind them.

Values of the choices that the decision core also knows (automation, rule kinds, server
group policies, admission policies) are the core's enum values, so a row converts to the
core's data by value alone.
"""

from django.db import models

from scheduler.core import model as core

# DRS / DPM defaults (vSphere's where it has one).
DRS_THRESHOLD_MIN = core.DRS_THRESHOLD_MIN
DRS_THRESHOLD_MAX = core.DRS_THRESHOLD_MAX
DEFAULT_DRS_THRESHOLD = core.DEFAULT_DRS_THRESHOLD
DEFAULT_DRS_INTERVAL_S = core.DEFAULT_DRS_INTERVAL_S
MIN_DRS_INTERVAL_S = 60
DEFAULT_DPM_LOW_PCT = round(core.DEFAULT_DPM_TARGET_LOW * 100)  # 45
DEFAULT_DPM_HIGH_PCT = round(core.DEFAULT_DPM_TARGET_HIGH * 100)  # 81
PERCENT = 100
# A proposal older than this many DRS intervals describes a cluster that has moved on.
RECOMMENDATION_TTL_INTERVALS = 2
# HA defaults.
DEFAULT_ISOLATION_S = 30
MIN_ISOLATION_S = 5
DEFAULT_RESTART_LIMIT = core.DEFAULT_RESTART_LIMIT
DEFAULT_RESTART_WINDOW_S = int(core.DEFAULT_RESTART_WINDOW_S)
DEFAULT_HA_PERCENT = 25
MAX_NAME = 63


class Automation(models.TextChoices):
    MANUAL = core.DrsAutomation.MANUAL.value, "Manual: recommendations only"
    PARTIAL = core.DrsAutomation.PARTIALLY_AUTOMATED.value, "Partially automated: initial placement only"
    FULL = core.DrsAutomation.FULLY_AUTOMATED.value, "Fully automated: migrations executed"


class AdmissionPolicy(models.TextChoices):
    DISABLED = core.HaAdmissionPolicy.DISABLED.value, "Disabled"
    HOST_FAILURES = core.HaAdmissionPolicy.HOST_FAILURES.value, "Host failures to tolerate"
    PERCENTAGE = core.HaAdmissionPolicy.PERCENTAGE.value, "Percentage of capacity reserved"


class EvcMode(models.TextChoices):
    DISABLED = "disabled", "Disabled"
    BASELINE = "baseline", "Baseline of the hosts' CPUs"
    NAMED = "named", "A named CPU model"


class RecommendationKind(models.TextChoices):
    DRS = "drs", "DRS (balance)"
    DPM = "dpm", "DPM (power)"
    HA = "ha", "HA (restart)"


class RecommendationState(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved (applying)"
    APPLIED = "applied", "Applied"
    FAILED = "failed", "Failed"
    SUPERSEDED = "superseded", "Superseded"
    EXPIRED = "expired", "Expired"
    REJECTED = "rejected", "Rejected"


OPEN_STATES = (RecommendationState.PROPOSED, RecommendationState.APPROVED)


class RuleKind(models.TextChoices):
    VM_AFFINITY = core.RuleKind.VM_AFFINITY.value, "VMs together"
    VM_ANTI_AFFINITY = core.RuleKind.VM_ANTI_AFFINITY.value, "VMs apart"
    VM_HOST_AFFINITY = core.RuleKind.VM_HOST_AFFINITY.value, "VMs on these hosts"
    VM_HOST_ANTI_AFFINITY = core.RuleKind.VM_HOST_ANTI_AFFINITY.value, "VMs not on these hosts"


HOST_RULE_KINDS = (RuleKind.VM_HOST_AFFINITY, RuleKind.VM_HOST_ANTI_AFFINITY)


class RuleStrength(models.TextChoices):
    MUST = core.RuleStrength.MUST.value, "Must"
    SHOULD = core.RuleStrength.SHOULD.value, "Should"


class ServerGroupPolicy(models.TextChoices):
    AFFINITY = core.ServerGroupPolicy.AFFINITY.value, "Affinity"
    ANTI_AFFINITY = core.ServerGroupPolicy.ANTI_AFFINITY.value, "Anti-affinity"
    SOFT_AFFINITY = core.ServerGroupPolicy.SOFT_AFFINITY.value, "Soft affinity"
    SOFT_ANTI_AFFINITY = core.ServerGroupPolicy.SOFT_ANTI_AFFINITY.value, "Soft anti-affinity"


class PowerDriverKind(models.TextChoices):
    SIMULATED = "simulated", "Simulated"
    IPMI = "ipmi", "IPMI (ipmitool)"
    REDFISH = "redfish", "Redfish"
    WOL = "wol", "Wake-on-LAN"


class PowerState(models.TextChoices):
    ON = "on", "On"
    OFF = "off", "Off"
    WAKING = "waking", "Waking"
    UNKNOWN = "unknown", "Unknown"


class HaState(models.TextChoices):
    HEALTHY = "healthy", "Healthy"
    MISSING = "missing", "Missing heartbeats"
    FENCED = "fenced", "Fenced"
    FENCE_FAILED = "fence-failed", "Fencing failed"


class HaEventKind(models.TextChoices):
    HEARTBEAT_MISSED = "heartbeat-missed", "Heartbeat missed"
    RECOVERED = "recovered", "Heartbeat back"
    ISOLATED = "isolated", "Isolated"
    FENCED = "fenced", "Fenced"
    FENCE_FAILED = "fence-failed", "Fencing failed"
    RESTART = "restart", "Restart started"
    NO_HOST = "no-host", "No host for a restart"
    VM_RESTART = "vm-restart", "Crashed instance restarted"
    VM_HUNG = "vm-hung", "Hung instance reset"
    RESTART_LIMIT = "restart-limit", "Restart limit reached"
    ADMISSION_REFUSED = "admission-refused", "Refused by admission control"


class PowerAction(models.TextChoices):
    ON = "power-on", "Power on"
    OFF = "power-off", "Power off"
    STANDBY = "standby", "Standby (DPM)"
    WAKE = "wake", "Wake (DPM)"
    FENCE = "fence", "Fence (HA)"
