"""`python -m unids` is the `unids` command."""

from unids.cli import main

main()
