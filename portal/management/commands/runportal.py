"""The embedded default in one process: the ASGI server (HTTP + websockets) in a thread,
Celery beat in a thread, and a Celery worker with a thread pool in the main thread, all
sharing the in-memory broker and channel layer. One process matters: libvirt's test-driver
hosts live in the memory of the process that opened them. The apps' child processes (the
embedded OVN Northbound, network/embedded.py) start first and are stopped by PID on the way out."""

import signal
import threading

import uvicorn
from celery.beat import EmbeddedService
from django.conf import settings
from django.core.management.base import BaseCommand

from portal import embedded, operations
from portal.celery import app as celery_app

SERVER_START_TIMEOUT_S = 30


class Command(BaseCommand):
    help = "Serve the portal with an in-process Celery worker and beat (the embedded default)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--no-beat", action="store_true", help="Do not run periodic tasks.")

    def handle(self, *args, **options):
        # Until the Celery worker installs its own handlers (a warm shutdown), SIGTERM would end
        # the process without unwinding, and the children would not be stopped: make it an exit.
        signal.signal(signal.SIGTERM, _exit)
        with embedded.children(self.stdout):
            self.serve(**options)

    def serve(self, *, host, port, concurrency, no_beat, **options):
        if settings.CELERY_BROKER_URL.startswith("memory://"):
            interrupted = operations.fail_interrupted()
            if interrupted:
                self.stdout.write(f"{interrupted} operation(s) of a previous run marked failed (interrupted).")
        proxies = list(settings.NUBES_TRUSTED_PROXIES)  # uvicorn would trust loopback's X-Forwarded-For otherwise
        config = uvicorn.Config(
            "portal.asgi:application",
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies,
            timeout_keep_alive=settings.NUBES_KEEP_ALIVE_S,
        )
        server = uvicorn.Server(config)
        web = threading.Thread(target=server.run, name="asgi", daemon=True)
        web.start()
        for _ in range(SERVER_START_TIMEOUT_S * 10):
            if server.started or not web.is_alive():
                break
            web.join(0.1)
        if not server.started:
            raise SystemExit(f"The web server did not start on {host}:{port} (port in use?).")
        beat = None
        if not no_beat:
            beat = EmbeddedService(celery_app, thread=True, schedule_filename=settings.CELERY_BEAT_SCHEDULE_FILENAME)
            beat.start()
        self.stdout.write(self.style.SUCCESS(f"Nubes is serving at http://{host}:{port}/  (Ctrl-C stops)"), ending="\n")
        self.stdout.flush()
        worker = celery_app.Worker(
            pool="threads",
            concurrency=concurrency,
            loglevel="INFO",
            quiet=True,
            hostname=f"embedded@{host}",
            without_mingle=True,
            without_gossip=True,
        )
        try:
            worker.start()
        finally:
            if beat is not None:
                beat.stop()
            server.should_exit = True
            web.join(5)


def _exit(signum, frame):
    raise SystemExit(128 + signum)
