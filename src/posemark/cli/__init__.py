"""The `posemark` command line: thin Typer commands over services."""
