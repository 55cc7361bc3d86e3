"""``python -m colorize`` runs the command-line tool."""

from colorize.cli import main

main()
