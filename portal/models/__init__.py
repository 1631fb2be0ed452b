from portal.models.audit import AuditEvent
from portal.models.operations import Operation
from portal.models.tenancy import Membership, Project, ProjectOwned, Quota
from portal.models.tokens import ApiToken

__all__ = ["ApiToken", "AuditEvent", "Membership", "Operation", "Project", "ProjectOwned", "Quota"]
