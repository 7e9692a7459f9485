"""``python -m rpsa.tools.loadtest``: the load tester's command line (:func:`rpsa.tools.loadtest.cli.main`)."""

from rpsa.tools.loadtest.cli import main

if __name__ == "__main__":
    main()
