"""`jobrunner schema`: print the JSON Schema of job files, with installed plugins' params."""

from __future__ import annotations

import click


@click.command()
def schema() -> None:
    """Print the job file JSON Schema (Draft 2020-12) on standard output.

    It includes the params schema of every installed plugin, so editors
    check `params` too. Point your editor at it with a first line such as
    `# yaml-language-server: $schema=./jobfile.v1.json`.

    \b
    Example:
      jobrunner schema > jobfile.v1.json
    """
    import json

    from jobrunner.config.schema import published
    from jobrunner.registry import discover

    plugins = discover().plugins
    click.echo(json.dumps(published({n: p.params_schema for n, p in plugins.items()}), indent=2))
