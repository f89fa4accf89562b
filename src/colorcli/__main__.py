"""``python -m colorcli``."""

from colorcli.cli.app import main

main()
