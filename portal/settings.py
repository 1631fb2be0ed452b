"""Nubes settings. Everything that differs between a laptop and a fleet comes from the
environment (see .env.example); with nothing set, the embedded default runs: SQLite, an
in-process Celery worker with an in-memory broker, the in-memory channel layer."""

import ipaddress
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from portal.env import env_bool, env_float, env_int, env_list, env_str, pooled, secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("NUBES_DATA_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = secret_key("SECRET_KEY", DATA_DIR / "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "django_tables2",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "channels",
    "portal",
    "compute",
    "storage",
    "network",
    "scheduler",
    "catalog",
    "openstack_api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.middleware.CurrentProjectMiddleware",
    "portal.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.nubes",
            ],
        },
    },
]

# Database: SQLite file by default; DATABASE_URL (postgres://...) in production.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'nubes.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0, 0))}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
# PostgreSQL connections from a pool of at most NUBES_DB_POOL per process (0: a new connection for
# each request, closed after it: the default here; `deploy/nubes.sh web` sets 20). A fresh connection
# cost an API read 5-7 ms of its 17-18 and an instance page 15 ms of 91 (a new server process, its
# catalog caches cold). Persistent connections (DB_CONN_MAX_AGE) do not work under ASGI, where
# every request has a thread of its own.
DATABASES["default"] = pooled(DATABASES["default"], env_int("NUBES_DB_POOL", 0, 0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the in-process worker write from several threads: WAL plus
    # IMMEDIATE transactions make writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file per test process: threads (websocket consumers, libvirt's event thread) then wait
    # for each other instead of failing as on a shared in-memory database; one file per process
    # keeps parallel test runs apart. Django removes it when the run ends.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"nubes-test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis, when set, carries Celery's broker, the channel layer and the cache.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    # Redis's pub/sub ignores database numbers: the prefix names the database, so portals (or test
    # runs) on other databases of one Redis do not hear each other's groups.
    REDIS_DB = urlsplit(REDIS_URL).path.strip("/") or "0"
    CHANNEL_LAYERS = {
        "default": {
            # pub/sub, and closes sockets when Redis restarts (portal/redis_layer.py)
            "BACKEND": "portal.redis_layer.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("NUBES_CHANNEL_PREFIX") or f"nubes.{REDIS_DB}."},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # channels' layer, made safe for publishes from worker threads (portal/layers.py)
    CHANNEL_LAYERS = {"default": {"BACKEND": "portal.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_TASK_ALWAYS_EAGER = env_bool("NUBES_CELERY_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env_int("NUBES_TASK_TIME_LIMIT", 1800, 10)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("NUBES_TASK_SOFT_TIME_LIMIT", 1700, 5)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
# Leases (portal/leases.py): a running Operation's worker renews its lease every third of it; the
# reaper runs every NUBES_REAPER_INTERVAL (at most the lease), so an Operation whose worker died
# ends within lease + interval <= 2 x lease.
NUBES_OPERATION_LEASE = env_int("NUBES_OPERATION_LEASE", 30, 2)
NUBES_REAPER_INTERVAL = min(env_int("NUBES_REAPER_INTERVAL", 15, 1), NUBES_OPERATION_LEASE)
# Long jobs (live migrations, block jobs: commit, pull, mirror) get their own limits; at the soft
# limit the task aborts the libvirt job before it fails the Operation.
NUBES_LONG_TASK_TIME_LIMIT = env_int("NUBES_LONG_TASK_TIME_LIMIT", 7200, 60)
NUBES_LONG_TASK_SOFT_TIME_LIMIT = env_int("NUBES_LONG_TASK_SOFT_TIME_LIMIT", NUBES_LONG_TASK_TIME_LIMIT - 120, 30)
# Fleet locks (portal/fleetlock.py), e.g. the one process following a host's lifecycle events:
# renewed every third of the TTL; a dead holder's lock lapses after it and is taken over.
NUBES_FLEET_LOCK_TTL = env_int("NUBES_FLEET_LOCK_TTL", 30, 2)
# Queues that cannot starve each other: heartbeats (HA probes, the reaper, the event follower),
# metrics, long jobs (migrations, volume moves and block jobs, image uploads and imports), and the rest
# on Celery's default queue. A worker started without -Q consumes all four (the embedded default,
# a small install); a fleet runs workers per queue (`celery -A portal worker -Q nubes.heartbeats`).
CELERY_TASK_DEFAULT_QUEUE = "celery"
NUBES_QUEUES = {
    "nubes.heartbeats": [
        "scheduler.tasks.heartbeat",
        "portal.tasks.reap_operations",
        "compute.tasks.follow_events",
    ],
    "nubes.metrics": [
        "compute.metrics.tasks.collect_all",
        "compute.metrics.tasks.collect_host",
        "compute.metrics.tasks.rollup_and_prune",
    ],
    "nubes.long": [
        "compute.migration_tasks.run_migration",
        "compute.tasks.import_image",
        "compute.tasks.receive_upload",
        "storage.tasks.migrate_volume",
        "storage.tasks.flatten_volume",
        "storage.tasks.create_snapshot",
        "storage.tasks.revert_snapshot",
        "storage.tasks.delete_snapshot",
        "catalog.tasks.build_service",  # waits for the VM's build and boot (minutes under TCG)
        "catalog.tasks.delete_service",
        "catalog.tasks.back_up",  # attach a volume, dump the databases onto it, detach it
    ],
}
# Every worker also consumes a queue of its own (`<node name>.dq2`): HA asks the other workers
# for their probe of a host it missed through it (scheduler.tasks.ha.ask_others).
CELERY_WORKER_DIRECT = True
CELERY_TASK_QUEUES = [Queue(CELERY_TASK_DEFAULT_QUEUE), *(Queue(name) for name in NUBES_QUEUES)]
CELERY_TASK_ROUTES = {task: {"queue": queue} for queue, tasks in NUBES_QUEUES.items() for task in tasks}
# Redis gives a message its worker never acknowledged (the worker died) to another worker after
# the visibility timeout: longer than the longest task, so a slow task is never run twice; the
# leases end a lost worker's Operation long before (and its late redelivery does nothing).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": NUBES_LONG_TASK_TIME_LIMIT + 300}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Argon2id tuned in portal/hashers.py; the others only verify passwords stored before (Django
# upgrades them to the first at sign-in).
PASSWORD_HASHERS = [
    "portal.hashers.TunedArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
# Proxies (addresses or networks) whose X-Forwarded-For names the client; none by default.
NUBES_TRUSTED_PROXIES = env_list("NUBES_TRUSTED_PROXIES", [])
try:
    [ipaddress.ip_network(net, strict=False) for net in NUBES_TRUSTED_PROXIES]
except ValueError as exc:
    raise ImproperlyConfigured(f"NUBES_TRUSTED_PROXIES: {exc}") from exc
# How long uvicorn keeps an idle keep-alive connection (runportal; deploy/nubes.sh reads the same
# variable). uvicorn's own 5 s raced clients that poll every 5 s (openstackclient's --wait).
NUBES_KEEP_ALIVE_S = env_int("NUBES_KEEP_ALIVE_S", 65, 1)
LOGIN_RATE_LIMIT = env_int("NUBES_LOGIN_RATE_LIMIT", 5, 1)
LOGIN_RATE_WINDOW = env_int("NUBES_LOGIN_RATE_WINDOW", 300, 1)
SESSION_COOKIE_HTTPONLY = True
# Behind a TLS proxy: trust its X-Forwarded-Proto (only if it always sets it), send HSTS.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("NUBES_PROXY_SSL_HEADER", False) else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Content-Security-Policy on every answer: scripts only from the portal's own static files (no
# inline script or handler, no eval), connections (websockets included) only to the portal, no
# framing. Styles only from static files too: no style attribute, no <style> with content but two
# whose hashes are listed. The empty string's: Plotly adds an empty <style> and fills it through
# the CSSOM (insertRule), which the policy does not govern, as it does not govern element.style.
# MapLibre's stylesheet, which Plotly's bundle injects as it loads (a test checks the hash against
# the installed plotly.min.js). NUBES_CSP replaces it whole.
EMPTY_STYLE_HASH = "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
PLOTLY_MAPLIBRE_STYLE_HASH = "'sha256-ji27qzEtxXZW+7dun6UwjHXJ18e6WAin1VvNtkzIE/o='"
CONTENT_SECURITY_POLICY = env_str(
    "NUBES_CSP",
    f"default-src 'self'; script-src 'self'; style-src 'self' {EMPTY_STYLE_HASH} {PLOTLY_MAPLIBRE_STYLE_HASH}; "
    "img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# WhiteNoise serves static files from the ASGI process itself; finders mean no collectstatic
# is needed for `make run` (production may still run collectstatic and a CDN/proxy).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request otherwise
# plotly.min.js comes from the plotly package, htmx from django-htmx: nothing vendored in git.
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/plotly", Path(plotly.__file__).parent / "package_data")]
# noVNC comes from npm (static/package.json, `make static-deps`); the graphical console says when it is missing.
NOVNC_DIR = BASE_DIR / "static" / "node_modules" / "@novnc" / "novnc"
if NOVNC_DIR.is_dir():
    STATICFILES_DIRS.append(("vendor/novnc", NOVNC_DIR))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "portal.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# A JSON body is refused (413) past DATA_UPLOAD_MAX_MEMORY_SIZE (Django's, 2.5 MiB by default)
# and (400) when nested deeper than this, before the parser recurses into it.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("NUBES_API_MAX_BODY", 2621440, 1024)
NUBES_API_MAX_JSON_DEPTH = env_int("NUBES_API_MAX_JSON_DEPTH", 32, 2)
NUBES_API_DOCS_PUBLIC = env_bool("NUBES_API_DOCS_PUBLIC", False)
SPECTACULAR_SETTINGS = {
    "TITLE": "Nubes API",
    "DESCRIPTION": "Self-service IaaS: instances, volumes, networks and the scheduler.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # separate request components: write shapes (required inputs) apart from read shapes
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.admin_only_fields_optional",
        "portal.api.schema.error_responses",
        "portal.api.schema.blank_or_pattern",
    ],
    # behind sign-in unless NUBES_API_DOCS_PUBLIC (the docs page redirects to the login)
    "SERVE_PERMISSIONS": ["portal.api.permissions.SchemaPermission"],
    # Swagger UI from the sidecar package, not a CDN: the portal must work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # one name per choice set: the "state" fields of different models are different sets
    "ENUM_NAME_OVERRIDES": {
        "HostStateEnum": "compute.choices.HostState",
        "InstanceStateEnum": "compute.choices.InstanceState",
        "NetworkStateEnum": "network.choices.State",
        "PoolStateEnum": "storage.choices.PoolState",
        "VolumeStateEnum": "storage.choices.VolumeState",
        "MigrationStateEnum": "compute.models.migration.MigrationState",
        "AutomationEnum": "scheduler.choices.Automation",
        "Ipv6ModeEnum": "network.choices.Ipv6Mode",
        "SnapshotKindEnum": "storage.choices.SnapshotKind",
        "CloneModeEnum": "storage.choices.CloneMode",
    },
}

# Simulated hosts: libvirt test-driver node files seeded by the demo.
NUBES_NODES_DIR = Path(env_str("NUBES_NODES_DIR", str(BASE_DIR / "hypervisor" / "nodes")))
NUBES_DEMO_PASSWORD = env_str("NUBES_DEMO_PASSWORD", "nubes-demo")
NUBES_TOKEN_MAX_DAYS = env_int("NUBES_TOKEN_MAX_DAYS", 365, 1)
NUBES_OVERCOMMIT_CPU = env_float("NUBES_OVERCOMMIT_CPU", 4.0, 0.1)
NUBES_OVERCOMMIT_RAM = env_float("NUBES_OVERCOMMIT_RAM", 1.0, 0.1)
NUBES_OVERCOMMIT_DISK = env_float("NUBES_OVERCOMMIT_DISK", 1.0, 0.1)
# Directories (and /dev for raw device mapping) where storage pools may live.
NUBES_STORAGE_ROOTS = env_list(
    "NUBES_STORAGE_ROOTS",
    ["/var/lib/libvirt/images", "/var/lib/nubes", "/var/lib/nubes-lab", "/srv", "/mnt", "/dev"],
)
# iscsi-direct pools: each host logs in to targets as <prefix>:<host name> (grant that name on
# the array).
# How often a pool an I/O error put in error is read again (storage.tasks.outage), seconds.
NUBES_POOL_CHECK_INTERVAL = env_int("NUBES_POOL_CHECK_INTERVAL", 5, 1)
# How often each LUN pool's array is asked whether it answers at all (a whole target gone hangs
# QEMU's I/O without an error: storage.tasks.reachability), and how long one probe may take.
NUBES_POOL_PROBE_INTERVAL = env_int("NUBES_POOL_PROBE_INTERVAL", 10, 1)
NUBES_POOL_PROBE_TIMEOUT = env_int("NUBES_POOL_PROBE_TIMEOUT", 5, 1)
NUBES_ISCSI_INITIATOR_PREFIX = env_str("NUBES_ISCSI_INITIATOR_PREFIX", "iqn.2026-12.io.nubes")
# The console proxy's TLS towards QEMU's VNC (VeNCrypt): the CA that signed the hosts' VNC
# certificates and the proxy's client certificate and key (PEM). With a CA the proxy refuses a
# VNC server that does not offer VeNCrypt; without one it speaks plain VNC Authentication.
NUBES_VNC_TLS_CA = env_str("NUBES_VNC_TLS_CA", "")
NUBES_VNC_TLS_CERT = env_str("NUBES_VNC_TLS_CERT", "")
NUBES_VNC_TLS_KEY = env_str("NUBES_VNC_TLS_KEY", "")
if (NUBES_VNC_TLS_CERT or NUBES_VNC_TLS_KEY) and not NUBES_VNC_TLS_CA:
    raise ImproperlyConfigured("NUBES_VNC_TLS_CERT/NUBES_VNC_TLS_KEY need NUBES_VNC_TLS_CA (the hosts' VNC CA)")
NUBES_RECONCILE_INTERVAL = env_int("NUBES_RECONCILE_INTERVAL", 60, 5)
NUBES_METRICS_INTERVAL = env_int("NUBES_METRICS_INTERVAL", 10, 1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
