"""``python -m tests.django_client.manage <command>``: Django's manage.py for the bank app
(``FINHOUSE_DJANGO_DSN`` names the database)."""

from __future__ import annotations

import os
import sys

from django.core.management import execute_from_command_line


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_client.settings")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
