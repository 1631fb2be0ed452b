"""The catalog's step of `manage.py lab_register` on simulated hosts: the service guest's
root filesystem uploaded into the shared pool once, a public image and flavor for it, and the
PostgreSQL template whose actions are the image's scripts; nothing when the image is not built."""

import subprocess
from pathlib import Path

import pytest

import hypervisor as hv
from catalog import lab
from catalog.models import ServiceTemplate
from compute.models import Image

SCRIPTS = Path(__file__).resolve().parents[2] / "lab" / "service-guest" / "nubes-agent"
POOL = "shared"  # the simulated hosts' shared pool stands in for the lab's nubes-shared


@pytest.fixture
def image_env(tmp_path, monkeypatch):
    root = tmp_path / "root.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root), "3G"], check=True)
    env = tmp_path / "image.env"
    env.write_text(
        f"ROOT={root}\nKERNEL={tmp_path}/vmlinuz\nINITRD={tmp_path}/initrd.img\n"
        'CMDLINE="root=/dev/vda rw console=ttyS0"\nPOSTGRES_VERSION=15\nRECIPE=0123456789abcdef\n'
    )
    monkeypatch.setattr(lab, "IMAGE_ENV", env)
    monkeypatch.setattr(lab, "SHARED_POOL", POOL)
    return env


def register(admin_user, hosts):
    made = {"hosts": hosts}
    lab.register(admin_user, {}, made, service_templates=True)
    return made


def test_it_uploads_the_image_and_registers_the_template_once(admin_user, hosts, image_env):
    made = register(admin_user, hosts)
    template = made["service_template"]
    assert template.image.volume == "service-guest-0123456789abcdef.qcow2"
    assert hv.volume_info(hosts[0].uri, POOL, template.image.volume).capacity_bytes == 3 * 1024**3
    assert template.image.kernel_cmdline == "root=/dev/vda rw console=ttyS0"
    assert sorted(template.flavors.values_list("name", flat=True)) == [lab.FLAVOR, lab.LARGE_FLAVOR]
    assert made["service_flavor"].name == lab.FLAVOR
    large = template.flavors.get(name=lab.LARGE_FLAVOR)  # a resize's target: more of both, the same disk
    assert large.vcpus > 1 and large.ram_mb > lab.FLAVOR_RAM_MB and large.disk_gb == lab.IMAGE_DISK_GB
    assert template.parameter_schema["properties"]["version"]["enum"] == ["15"]
    again = register(admin_user, hosts)
    assert again["service_template"].pk == template.pk
    assert ServiceTemplate.objects.count() == 1 and Image.objects.filter(name=lab.IMAGE).count() == 1


def test_every_action_is_a_script_the_image_has():
    shipped = {path.name for path in SCRIPTS.iterdir()}
    assert {action["script"] for action in lab.POSTGRES_ACTIONS.values()} <= shipped
    assert set(lab.POSTGRES_HOOKS.values()) <= shipped


def test_the_template_passes_the_catalogs_own_checks(admin_user, hosts, image_env):
    template = register(admin_user, hosts)["service_template"]
    template.full_clean()
    assert template.readable_paths == [lab.LOG_DIR]


def test_without_a_built_image_nothing_is_registered_and_it_says_why(admin_user, hosts, tmp_path, monkeypatch):
    monkeypatch.setattr(lab, "IMAGE_ENV", tmp_path / "missing" / "image.env")
    made = register(admin_user, hosts)
    assert made["service_template"] is None and "build.sh" in made["service_note"]
    assert not ServiceTemplate.objects.exists()


def test_other_lab_registrations_leave_the_catalog_alone(admin_user, hosts, image_env):
    made = {"hosts": hosts}
    lab.register(admin_user, {}, made)
    assert "service_template" not in made and not ServiceTemplate.objects.exists()


def test_an_image_that_cannot_be_uploaded_is_reported_and_the_rest_stays(admin_user, hosts, image_env, tmp_path):
    image_env.write_text(image_env.read_text().replace("ROOT=", f"ROOT={tmp_path}/gone.qcow2\nOLD_ROOT="))
    made = register(admin_user, hosts)
    assert made["service_template"] is None and "could not be put" in made["service_note"]
    assert not ServiceTemplate.objects.exists()
