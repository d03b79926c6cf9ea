"""``python -m hwsim``: the same as the ``hwsim`` command."""

import sys

from .cli import main

sys.exit(main())
