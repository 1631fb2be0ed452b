"""Start-up checks with stable IDs (`manage.py check`)."""

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def nubes_settings(app_configs, **kwargs):
    problems = []
    if not settings.NUBES_NODES_DIR.is_dir():
        problems.append(
            Warning(
                f"NUBES_NODES_DIR {settings.NUBES_NODES_DIR} is not a directory; the demo has no simulated hosts.",
                id="nubes.W001",
            )
        )
    engine = settings.DATABASES["default"]["ENGINE"]
    if settings.REDIS_URL and engine.endswith("sqlite3"):
        problems.append(
            Warning(
                "REDIS_URL is set but the database is SQLite: separate workers need a shared database (DATABASE_URL).",
                id="nubes.W002",
            )
        )
    if not settings.DEBUG and len(settings.SECRET_KEY) < 32:
        problems.append(Error("SECRET_KEY is shorter than 32 characters.", id="nubes.E001"))
    return problems
