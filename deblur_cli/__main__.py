"""`python -m deblur_cli` runs the `deblur` command line."""

from .cli.app import main

main()
