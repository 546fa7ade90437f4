"""The `prefbench` command line: a thin typer layer over `prefbench.harness.pipeline`."""
