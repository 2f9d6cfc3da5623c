"""``certadmin <command>`` (or ``python -m certadmin``): manage.py for an installed certadmin."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "certadmin.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["certadmin", *sys.argv[1:]])


if __name__ == "__main__":
    main()
