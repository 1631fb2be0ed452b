"""Child processes of the embedded default: `runportal` (and `seed_demo` before it, whose
operations run in its own process) start what the apps registered here, and stop it on exit.
Each app registers start(stdout) -> stop() or None (None: nothing started, e.g. configured
elsewhere or not installed; the app says why). portal imports no app: they register from ready()."""

import contextlib

_starters = []


def register(start):
    if start not in _starters:
        _starters.append(start)


@contextlib.contextmanager
def children(stdout):
    """Start every registered child; stop those started, last first, however the block ends."""
    stops = []
    try:
        for start in _starters:
            stop = start(stdout)
            if stop is not None:
                stops.append(stop)
        yield
    finally:
        for stop in reversed(stops):
            stop()
