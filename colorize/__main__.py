"""``python -m colorize`` runs the command-line tool."""

from colorize.cli import main

if __name__ == "__main__":  # worker processes (colorize.finish.job) import this module again: no second run
    main()
