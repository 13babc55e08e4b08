"""The ``botify`` command installed with the package: the same native code as the Rust binary
(``cargo install --path crates/botify-cli``), so every ``botify …`` in the docs works after
``pip install``."""

import signal
import sys

from . import _botify


def main() -> None:
    # Ctrl-C ends the command as it ends the native binary, instead of waiting for Python's
    # handler, which runs only between Python statements.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(_botify.cli(sys.argv))
