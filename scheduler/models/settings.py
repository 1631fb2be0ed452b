"""Per-cluster scheduler settings: DRS, DPM, HA and EVC, turned into the core's ClusterPolicy."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from scheduler import choices as c
from scheduler.core.model import ClusterPolicy, DrsAutomation, HaAdmissionPolicy

PCT = [MinValueValidator(1), MaxValueValidator(c.PERCENT - 1)]


class ClusterSchedulerSettings(models.Model):
    cluster = models.OneToOneField("compute.Cluster", on_delete=models.CASCADE, related_name="scheduler_settings")
    # DRS
    drs_enabled = models.BooleanField(default=True)
    drs_automation = models.CharField(max_length=16, choices=c.Automation.choices, default=c.Automation.MANUAL)
    drs_threshold = models.PositiveSmallIntegerField(
        default=c.DEFAULT_DRS_THRESHOLD,
        validators=[MinValueValidator(c.DRS_THRESHOLD_MIN), MaxValueValidator(c.DRS_THRESHOLD_MAX)],
        help_text="1 fixes rule violations only; 5 balances most aggressively",
    )
    drs_interval_s = models.PositiveIntegerField(
        default=c.DEFAULT_DRS_INTERVAL_S, validators=[MinValueValidator(c.MIN_DRS_INTERVAL_S)]
    )
    # DPM
    dpm_enabled = models.BooleanField(default=False)
    dpm_automation = models.CharField(max_length=16, choices=c.Automation.choices, default=c.Automation.MANUAL)
    dpm_target_low_pct = models.PositiveSmallIntegerField(default=c.DEFAULT_DPM_LOW_PCT, validators=PCT)
    dpm_target_high_pct = models.PositiveSmallIntegerField(default=c.DEFAULT_DPM_HIGH_PCT, validators=PCT)
    dpm_min_hosts_on = models.PositiveSmallIntegerField(default=1)
    dpm_reserve_hosts = models.PositiveSmallIntegerField(default=0, help_text="Empty hosts kept running")
    # HA
    ha_enabled = models.BooleanField(default=True)
    ha_admission = models.CharField(
        max_length=16, choices=c.AdmissionPolicy.choices, default=c.AdmissionPolicy.HOST_FAILURES
    )
    ha_host_failures = models.PositiveSmallIntegerField(default=1)
    ha_cpu_percent = models.PositiveSmallIntegerField(default=c.DEFAULT_HA_PERCENT, validators=PCT)
    ha_memory_percent = models.PositiveSmallIntegerField(default=c.DEFAULT_HA_PERCENT, validators=PCT)
    ha_isolation_s = models.PositiveIntegerField(
        default=c.DEFAULT_ISOLATION_S,
        validators=[MinValueValidator(c.MIN_ISOLATION_S)],
        help_text="Seconds without a heartbeat before a host is fenced",
    )
    ha_restart_limit = models.PositiveSmallIntegerField(default=c.DEFAULT_RESTART_LIMIT)
    ha_restart_window_s = models.PositiveIntegerField(
        default=c.DEFAULT_RESTART_WINDOW_S, validators=[MinValueValidator(1)]
    )
    # EVC
    evc_mode = models.CharField(max_length=16, choices=c.EvcMode.choices, default=c.EvcMode.DISABLED)
    evc_model = models.CharField(max_length=64, blank=True, help_text="The named CPU model (evc_mode=named)")
    evc_incompatible_hosts = models.JSONField(
        default=list,
        blank=True,
        editable=False,
        help_text="Host ids libvirt found unable to run the cluster baseline when it was computed",
    )
    drs_last_run = models.DateTimeField(null=True, blank=True, editable=False)
    dpm_last_run = models.DateTimeField(null=True, blank=True, editable=False)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "cluster scheduler settings"

    def __str__(self):
        return f"scheduler settings of {self.cluster}"

    def clean(self):
        if self.dpm_target_low_pct >= self.dpm_target_high_pct:
            raise ValidationError({"dpm_target_high_pct": "The upper end of the target range must be above the lower."})
        if self.evc_mode == c.EvcMode.NAMED and not self.evc_model:
            raise ValidationError({"evc_model": "Name the CPU model the cluster presents."})

    @property
    def recommendation_ttl_s(self):
        return self.drs_interval_s * c.RECOMMENDATION_TTL_INTERVALS

    def policy(self):
        """The core's ClusterPolicy for this cluster (overcommit ratios from compute's Cluster)."""
        cluster = self.cluster
        return ClusterPolicy(
            cpu_overcommit=cluster.cpu_overcommit,
            ram_overcommit=cluster.ram_overcommit,
            disk_overcommit=cluster.disk_overcommit,
            drs_enabled=self.drs_enabled,
            drs_automation=DrsAutomation(self.drs_automation),
            drs_threshold=self.drs_threshold,
            drs_interval_s=self.drs_interval_s,
            dpm_enabled=self.dpm_enabled,
            dpm_target_low=self.dpm_target_low_pct / c.PERCENT,
            dpm_target_high=self.dpm_target_high_pct / c.PERCENT,
            dpm_min_hosts_on=self.dpm_min_hosts_on,
            dpm_reserve_hosts=self.dpm_reserve_hosts,
            ha_enabled=self.ha_enabled,
            ha_admission=HaAdmissionPolicy(self.ha_admission),
            ha_host_failures=self.ha_host_failures,
            ha_cpu_percent=float(self.ha_cpu_percent),
            ha_memory_percent=float(self.ha_memory_percent),
            restart_limit=self.ha_restart_limit,
            restart_window_s=float(self.ha_restart_window_s),
        )
