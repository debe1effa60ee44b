"""The Chinese catalog as the tests read it: where it lives, and `makemessages` run the way
the README says, in a throw-away copy of the project (it rewrites the .po it finds)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
PO = BASE_DIR / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
# What makemessages leaves out: third-party code, the tests, the bench.
IGNORED = [".venv", "node_modules", "tests", "bench", "staticfiles"]


def entry_key(entry):
    return (entry.msgctxt, entry.msgid, entry.msgid_plural)


def catalog():
    return polib.pofile(str(PO))


def freshly_extracted(tmp_path):
    """The catalog `makemessages -l zh_Hans` makes from the code as it is now (GNU gettext's
    xgettext extracts; only this test needs it, the running portal reads the .mo)."""
    copy = tmp_path / "project"
    shutil.copytree(
        BASE_DIR,
        copy,
        ignore=shutil.ignore_patterns(
            *IGNORED, ".git", "__pycache__", "*.sqlite3*", ".test-db-*", "*.mo"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "-l",
            "zh_Hans",
            "--add-location=file",
            *(f"--ignore={name}/*" for name in IGNORED),
        ],
        cwd=copy,
        env={**os.environ, "SECRET_KEY": "test-only", "DEBUG": "false"},
        check=True,
        capture_output=True,
    )
    return polib.pofile(str(copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
