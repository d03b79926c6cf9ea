"""``python -m hwsim.cli``: the same as the ``hwsim`` command."""

import sys

from . import main

sys.exit(main())
