"""The OVN deployment the portal uses (a singleton row): cloud admins register or change it."""

from django.db import transaction

from network.models import OvnDeployment
from network.services.common import require_staff
from portal import audit

DEPLOYMENT_FIELDS = ("nb_connection", "sb_connection", "gateway_chassis", "encap_type")


def update_deployment(user, request=None, **fields):
    """Validate and save the given endpoint fields; returns the deployment."""
    require_staff(user, "change the OVN deployment")
    unknown = set(fields) - set(DEPLOYMENT_FIELDS)
    if unknown:
        raise ValueError(f"Not OVN deployment fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        deployment = OvnDeployment.current()
        for field, value in fields.items():
            setattr(deployment, field, value)
        deployment.full_clean()
        deployment.save()
        audit.record(
            user,
            "ovn_deployment.update",
            deployment,
            request=request,
            **{field: getattr(deployment, field) for field in fields},
        )
    return deployment
