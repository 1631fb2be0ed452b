#!/usr/bin/env python
"""Django's command-line utility for Nubes."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.management import execute_from_command_line  # after the settings module is set

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
