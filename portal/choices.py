"""Named constants for the platform's states and kinds."""

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    READER = "reader", "Reader"


WRITE_ROLES = (Role.ADMIN, Role.MEMBER)


class OperationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (OperationStatus.QUEUED, OperationStatus.RUNNING)
FINAL_STATUSES = (OperationStatus.SUCCEEDED, OperationStatus.FAILED, OperationStatus.CANCELLED)


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    DENIED = "denied", "Denied"
    ERROR = "error", "Error"


class QuotaResource(models.TextChoices):
    INSTANCES = "instances", "Instances"
    VCPUS = "vcpus", "vCPUs"
    RAM_MB = "ram_mb", "RAM (MiB)"
    DISK_GB = "disk_gb", "Disk (GiB)"
    VOLUMES = "volumes", "Volumes"
    SNAPSHOTS = "snapshots", "Snapshots"
    NETWORKS = "networks", "Networks"
    FLOATING_IPS = "floating_ips", "Floating IPs"
    LOAD_BALANCERS = "load_balancers", "Load balancers"
    IMAGES = "images", "Images"


DEFAULT_QUOTAS = {
    QuotaResource.INSTANCES: 20,
    QuotaResource.VCPUS: 64,
    QuotaResource.RAM_MB: 128 * 1024,
    QuotaResource.DISK_GB: 2000,
    QuotaResource.VOLUMES: 50,
    QuotaResource.SNAPSHOTS: 100,
    QuotaResource.NETWORKS: 10,
    QuotaResource.FLOATING_IPS: 10,
    QuotaResource.LOAD_BALANCERS: 5,
    QuotaResource.IMAGES: 20,
}
