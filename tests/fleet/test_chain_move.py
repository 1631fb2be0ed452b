"""A chain move on host B, from outside: a qcow2 volume uploaded through the API into a pool only
host B sees, two external snapshots (a pattern written into each layer), the whole chain moved
through the API to a second pool of host B's. Host B is remote (qemu+tcp://), so the fleet's
worker moves it with libvirt block jobs of a paused helper domain there; afterwards the chain
read back with qemu-img holds every pattern in the new pool, the old pool is empty, the API
agrees and no helper domain is left."""

import json
import subprocess
import uuid

import pytest

from tests.fleet.conftest import domains, virsh

POOL_DIR = "/var/lib/nubes-lab/fleet-chain-{}"  # the lab's data dir: host B sees the same files
HELPER_PREFIX = "nubes-offline-"  # hypervisor/offline_domain.py's NAME_PREFIX
TOOL_TIMEOUT_S = 60
BLOCKS = ((0, 0x11), (1, 0x22), (2, 0x33))  # (MiB offset, byte): the base, then one per snapshot


def qemu(*cmd):
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert result.returncode == 0, f"{' '.join(cmd)}: {result.stderr}"
    return result.stdout


def write(path, mib, pattern):
    qemu("qemu-io", "-f", "qcow2", "-c", f"write -P {pattern:#x} {mib}M 1M", path)


def holds(path, mib, pattern):
    out = subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", f"read -P {pattern:#x} {mib}M 1M", path],
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
    ).stdout
    return "Pattern verification failed" not in out and "read 1048576/1048576" in out


def chain(path):
    return [
        layer["filename"] for layer in json.loads(qemu("qemu-img", "info", "--backing-chain", "--output=json", path))
    ]


@pytest.fixture(scope="module")
def pools_on_b(admin, hosts, fleet):
    """Two dir pools of host B only, made through the API; removed after."""
    host_b = hosts[fleet["lab"]["hosts"][1]["name"]]
    tag = uuid.uuid4().hex[:6]
    made = []
    for side in ("src", "dst"):
        op = admin.action(
            "POST",
            "storage-pools/",
            json={
                "name": f"fleet-chain-{tag}-{side}",
                "libvirt_name": f"nubes-fleet-chain-{tag}-{side}",
                "type": "dir",
                "target_path": POOL_DIR.format(f"{tag}-{side}"),
                "hosts": [host_b["id"]],
            },
        )
        made.append(admin.get(f"storage-pools/{admin.succeeded(op)['target_id']}/"))
    yield host_b, made
    for pool in made:
        admin.wait(admin.action("DELETE", f"storage-pools/{pool['id']}/"))  # and the directory it made


def test_a_volume_chain_moves_between_pools_of_host_b(admin, project, pools_on_b, tmp_path):
    host_b, (source, target) = pools_on_b
    made = admin.succeeded(
        admin.action(
            "POST",
            "volumes/",
            json={"project": project["id"], "name": "fleet-chain", "pool": source["id"], "size_gb": 1},
        )
    )
    volume = admin.get(f"volumes/{made['target_id']}/")
    try:
        assert volume["format"] == "qcow2"
        image = tmp_path / "base.qcow2"
        qemu("qemu-img", "create", "-q", "-f", "qcow2", str(image), "1G")
        write(str(image), *BLOCKS[0])
        with image.open("rb") as body:
            admin.succeeded(
                admin.action(
                    "PUT",
                    f"volumes/{volume['id']}/upload/",
                    data=body,
                    headers={"Content-Length": str(image.stat().st_size)},
                )
            )
        for name, block in zip(("s1", "s2"), BLOCKS[1:], strict=True):
            admin.succeeded(admin.action("POST", f"volumes/{volume['id']}/snapshot/", json={"name": name}))
            write(admin.get(f"volumes/{volume['id']}/")["path"], *block)
        before = chain(admin.get(f"volumes/{volume['id']}/")["path"])
        assert len(before) == 3 and all(path.startswith(source["target_path"]) for path in before), before

        op = admin.succeeded(admin.action("POST", f"volumes/{volume['id']}/migrate/", json={"pool": target["id"]}))

        assert op["message"].startswith(f"Moved 3 layers to pool {target['name']}"), op["message"]
        moved = admin.get(f"volumes/{volume['id']}/")
        after = chain(moved["path"])
        assert moved["pool"] == target["id"] and len(after) == 3, after
        assert all(path.startswith(target["target_path"]) for path in after), after
        assert all(holds(moved["path"], *block) for block in BLOCKS), "a layer's data did not move along"
        virsh(host_b["uri"], "pool-refresh", source["libvirt_name"])
        assert virsh(host_b["uri"], "vol-list", source["libvirt_name"]).strip() == "", "the old chain stayed"
        assert len(admin.items(f"snapshots/?volume={volume['id']}")) == 2
        assert not [d for d in domains(host_b["uri"]) if d.startswith(HELPER_PREFIX)], "a helper domain was left"
    finally:
        admin.succeeded(admin.action("DELETE", f"volumes/{volume['id']}/"))
