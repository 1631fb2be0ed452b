"""A chassis in the test Southbound database, and a stand-in for its ovn-controller's one duty the
HA signal reads: copying SB_Global.nb_cfg to its Chassis_Private.nb_cfg (written with
ovsdb-client, a client that is not Nubes)."""

import threading


def add_chassis(sb, name, hostname=""):
    sb.transact(
        {
            "op": "insert",
            "table": "Encap",
            "uuid-name": "encap",
            "row": {"type": "geneve", "ip": "192.0.2.1", "chassis_name": name},
        },
        {
            "op": "insert",
            "table": "Chassis",
            "uuid-name": "ch",
            "row": {"name": name, "hostname": hostname or name, "encaps": ["named-uuid", "encap"]},
        },
        {"op": "insert", "table": "Chassis_Private", "row": {"name": name, "chassis": ["named-uuid", "ch"]}},
    )


class Controller:
    """Keeps chassis `name` caught up with SB_Global.nb_cfg until stopped."""

    def __init__(self, sb, name):
        self.sb, self.name = sb, name
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stopped.wait(0.02):
            cfg = self.sb.rows("SB_Global")[0]["nb_cfg"]
            self.sb.transact(
                {
                    "op": "update",
                    "table": "Chassis_Private",
                    "where": [["name", "==", self.name]],
                    "row": {"nb_cfg": cfg},
                }
            )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(5)
