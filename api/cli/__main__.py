"""``python -m api.cli``: the ``village5g`` command line."""

from api.cli.root import main

main()
