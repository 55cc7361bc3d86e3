"""``python -m colorize`` runs the command-line tool."""

from colorize.cli import main

if __name__ == "__main__":  # a spawned process (multiprocessing) imports this module again: no second run
    main()
