"""``python -m embedreg_cli`` runs the ``embedreg`` command."""

from .main import main

main()
