"""Projects (tenants), who belongs to them with which role, and their quotas."""

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from portal.choices import DEFAULT_QUOTAS, WRITE_ROLES, QuotaResource, Role

NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$",
    "Use 1-63 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit.",
)


class ProjectQuerySet(models.QuerySet):
    def visible_to(self, user):
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(memberships__user=user).distinct()

    def writable_by(self, user):
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(memberships__user=user, memberships__role__in=WRITE_ROLES).distinct()


class Project(models.Model):
    name = models.CharField(max_length=63, unique=True, validators=[NAME_VALIDATOR])
    description = models.TextField(blank=True, max_length=1000)
    created = models.DateTimeField(auto_now_add=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def role_of(self, user):
        """The user's role here, or None. Staff act as admins everywhere."""
        if user.is_staff:
            return Role.ADMIN
        if not user.is_authenticated:
            return None
        membership = self.memberships.filter(user=user).first()
        return membership.role if membership else None


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project__name", "user__username"]
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]

    def __str__(self):
        return f"{self.user} in {self.project} ({self.role})"


class Quota(models.Model):
    """One resource's limit and usage in one project.

    `in_use` changes only through portal.quotas, by conditional UPDATEs, so two requests can
    never both take the last unit."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="quotas")
    resource = models.CharField(max_length=32, choices=QuotaResource.choices)
    limit = models.BigIntegerField(validators=[MinValueValidator(0)])
    in_use = models.BigIntegerField(default=0, validators=[MinValueValidator(0)])

    class Meta:
        ordering = ["project__name", "resource"]
        constraints = [
            models.UniqueConstraint(fields=["project", "resource"], name="one_quota_per_resource"),
            models.CheckConstraint(condition=models.Q(in_use__gte=0), name="quota_in_use_not_negative"),
        ]

    def __str__(self):
        return f"{self.project}: {self.resource} {self.in_use}/{self.limit}"

    @classmethod
    def ensure_defaults(cls, project):
        for resource, limit in DEFAULT_QUOTAS.items():
            cls.objects.get_or_create(project=project, resource=resource, defaults={"limit": limit})


class ProjectOwnedQuerySet(models.QuerySet):
    def visible_to(self, user):
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(project__memberships__user=user)


class ProjectOwned(models.Model):
    """Base for every tenant resource: it belongs to exactly one project."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="%(app_label)s_%(class)ss")

    objects = ProjectOwnedQuerySet.as_manager()

    class Meta:
        abstract = True
