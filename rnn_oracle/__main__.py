"""``python -m rnn_oracle``: the ``rnn-oracle`` command line."""

from __future__ import annotations

import sys

from rnn_oracle.cli import main

if __name__ == "__main__":
    sys.exit(main())
