"""The Celery app. Tasks live in each app's tasks.py; beat's schedule is declared here."""

import os

from celery import Celery

from portal import kombu_fix  # noqa: F401 - patches kombu's Redis transport on import

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("nubes")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
