"""`jobrunner validate`: check job files the way CI and pre-commit do."""

from __future__ import annotations

import click

from jobrunner.cli import exits
from jobrunner.cli.options import job_paths, load_or_exit


@click.command()
@job_paths
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text for people, json for scripts, github for PR annotations.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option(
    "--check-env",
    is_flag=True,
    help="Also require every ${env:NAME} and ${file:/path} in params to resolve here.",
)
@click.option(
    "--check-imports",
    is_flag=True,
    help="Also import every python handler's callable (run where the app is installed).",
)
def validate(
    paths: tuple[str, ...], fmt: str, strict: bool, check_env: bool, check_imports: bool
) -> None:
    """Check job files: YAML, keys, values, schedules, references, plugin params.

    PATH is a job file or a directory searched recursively for *.yaml and
    *.yml (default: jobs.d). Every problem of every file is reported, with
    file:line:column and the path inside the document. Exit status: 0 valid,
    1 invalid, 2 usage error.

    \b
    Examples:
      jobrunner validate                       # check ./jobs.d
      jobrunner validate jobs.d --strict       # warnings fail too (for CI)
      jobrunner validate --format github       # annotations in a GitHub workflow
      jobrunner validate --format json | jq .  # for scripts
    """
    from jobrunner.cli import report
    from jobrunner.problem import has_errors

    loaded = load_or_exit(paths, strict=strict, check_env=check_env, check_imports=check_imports)
    output = report.REPORTERS[fmt](loaded.problems)
    if output:
        click.echo(output)
    if fmt == "text":
        entries = len(loaded.config.queues) + len(loaded.config.crons)
        click.echo(report.summary(loaded.problems, len(loaded.files), entries), err=True)
    raise SystemExit(exits.INVALID if has_errors(loaded.problems) else exits.OK)
