"""What a project owns, and how it goes. Each app registers its kinds of resource in its
ready(), so portal imports none of them. A project that owns anything is not deleted; a purge
removes every kind in order through the owning app's own delete verbs, then the project."""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import ProtectedError

from portal import audit, operations
from portal.errors import ActionError, Conflict
from portal.models import Operation, Project
from portal.signals import project_deleting


@dataclass(frozen=True)
class Kind:
    name: str  # plural, as the refusal names it: "instances"
    order: int  # lower goes first: instances before the networks and volumes they use
    owned: object  # owned(project) -> queryset of what is left to remove
    remove: object  # remove(user, obj): the app's delete verb (its tasks run through operations.dispatch)


_kinds = {}


def register(name, order, owned, remove):
    _kinds[name] = Kind(name, order, owned, remove)


def kinds():
    return sorted(_kinds.values(), key=lambda kind: (kind.order, kind.name))


def owned_counts(project):
    """{kind name: count} of what the project still owns, kinds with none left out."""
    counts = ((kind.name, kind.owned(project).count()) for kind in kinds())
    return {name: count for name, count in counts if count}


def describe(counts):
    return ", ".join(f"{count} {name}" for name, count in counts.items())


class ProjectNotEmpty(Conflict):
    def __init__(self, project, owned):
        self.owned = owned
        super().__init__(f"Project {project} still owns {describe(owned)}; delete them first or purge the project.")


def delete_empty(project, user, request=None):
    """Delete a project that owns nothing: apps drop what lives exactly as long as it (network's
    default security group, compute's records of deleted instances), then the row goes."""
    try:
        with transaction.atomic():
            audit.record(user, "project.delete", project, request=request)
            project_deleting.send(sender=Project, project=project, user=user)
            project.delete()
    except ProtectedError as exc:
        kinds_left = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects})
        raise Conflict(f"The project still has {', '.join(kinds_left)}; delete them first.") from None


def purge(op, project, user):
    """Remove everything the project owns, kind by kind, one resource at a time, then the project.
    A failure stops here: what is removed stays removed, the rest is left for a retry."""
    total, done = sum(owned_counts(project).values()), 0
    for kind in kinds():
        for pk in list(kind.owned(project).values_list("pk", flat=True)):
            obj = kind.owned(project).filter(pk=pk).first()
            if obj is None:
                continue  # went with something removed before it (an instance's ports)
            operations.progress(op, 100 * done // (total + 1), f"Removing {kind.name}: {obj}")
            try:
                operations.run_inline(kind.remove, user, obj)
            except (ActionError, operations.TargetBusy) as exc:
                raise ActionError(
                    f"Removing {obj} ({kind.name}) failed: {exc} Removed {done} resources; "
                    f"left: {describe(owned_counts(project)) or 'nothing'}."
                ) from None
            done += 1
    left = owned_counts(project)
    if left:
        raise ActionError(f"The project still owns {describe(left)} (made during the purge?); purge again.")
    Operation.objects.filter(pk=op.pk).update(project=None)  # the purge's record outlives the project
    op.project_id = None
    delete_empty(project, user)
    return f"Purged project {project.name}: {done} resources removed, project deleted"
