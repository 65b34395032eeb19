"""``python -m leanet``: the ``leanet`` console script, for environments where the script
is not on PATH (a notebook kernel, a venv run without activating it)."""

import sys

from leanet.cli import main

sys.exit(main())
