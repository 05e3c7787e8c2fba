"""``python -m rnn_oracle``: the ``rnn-oracle`` command line."""

from __future__ import annotations

from rnn_oracle.cli import run

if __name__ == "__main__":
    run()
