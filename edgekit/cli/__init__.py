"""The ``edgekit`` command line: thin click commands over the stage APIs."""
