"""``python -m monitor`` is the ``rasid`` command."""

from monitor.cli import main

main()
