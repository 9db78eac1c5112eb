"""``python -m samvideo.cli``: the ``samvideo`` command."""

import sys

from samvideo.cli import main

sys.exit(main())
