"""compute's part in deleting a project (portal.teardown): its instances go first, its key
pairs and private catalog items last; the rows of its deleted instances go with the project."""

from compute.choices import InstanceState
from compute.models import Flavor, Image, Instance, KeyPair
from compute.services import instances as services
from portal import teardown
from portal.signals import project_deleting

INSTANCES, RECORDS = 10, 100  # instances before the networks and volumes they use


def forget_deleted_instances(project):
    """The history of instances already deleted; it refers to their flavors and images."""
    Instance.objects.filter(project=project, state=InstanceState.DELETED).delete()


def remove_record(user, obj):
    """Key pairs and private flavors and images are rows only, as the API deletes them."""
    forget_deleted_instances(obj.project)
    obj.delete()


def project_gone(sender, project, **kwargs):
    forget_deleted_instances(project)


def register():
    teardown.register(
        "instances", INSTANCES, lambda project: Instance.objects.live().filter(project=project), services.delete
    )
    for name, model in (("key pairs", KeyPair), ("private flavors", Flavor), ("private images", Image)):
        teardown.register(
            name, RECORDS, lambda project, model=model: model.objects.filter(project=project), remove_record
        )
    project_deleting.connect(project_gone, dispatch_uid="compute-deleted-instances")
