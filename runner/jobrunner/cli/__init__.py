"""The `jobrunner` command: one small module per subcommand, one error handler for all.

Heavy modules (PyYAML, jsonschema, Huey) are imported inside the commands
that need them, so `jobrunner --help` starts fast.
"""

from __future__ import annotations

import gc
import os
import sys
import traceback

import click

from jobrunner.cli import exits
from jobrunner.cli.dlq import dlq
from jobrunner.cli.enqueue import enqueue
from jobrunner.cli.health import health
from jobrunner.cli.joblist import job_list
from jobrunner.cli.jobs import jobs
from jobrunner.cli.plan import plan
from jobrunner.cli.queues import queues
from jobrunner.cli.run import run
from jobrunner.cli.schedules import schedules
from jobrunner.cli.schema import schema
from jobrunner.cli.status import status
from jobrunner.cli.trigger import trigger
from jobrunner.cli.validate import validate
from jobrunner.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="jobrunner")
def cli() -> None:
    """Declarative job runner: cron schedules and job queues as YAML files.

    \b
    Keep jobs.d/*.yaml in Git, check them in CI, and let the daemon apply changes:
      jobrunner validate jobs.d          check every file, report file:line:column
      jobrunner schedules jobs.d         when each cron entry fires, in words and times
      jobrunner plan jobs.d              what merging them would change in the running daemons
      jobrunner schema > jobfile.json    the JSON Schema editors use to complete and check
      jobrunner run                      the daemon: serve the queues, fire the cron entries
      jobrunner status                   daemons, queues, cron ticks and problems, at a glance
      jobrunner queues pause QUEUE       no daemon starts the queue's jobs until it is resumed

    Run `jobrunner COMMAND --help` for a command's options and examples.
    """


cli.add_command(validate)
cli.add_command(run)
cli.add_command(schedules)
cli.add_command(schema)
cli.add_command(plan)
cli.add_command(enqueue)
cli.add_command(status)
cli.add_command(trigger)
jobs.add_command(job_list)  # `jobs list`: its own module, on the helpers of cli/jobs.py
cli.add_command(jobs)
cli.add_command(dlq)
cli.add_command(queues)
cli.add_command(health)


def main() -> None:
    """Console entry point: run the CLI, turning surprises into a short message."""
    try:
        _run()
    finally:
        # The process ends here. Python's last collection would sweep every
        # object the command made (a validate of a thousand files makes
        # millions) only to find nothing to free: 0.3 s. Skip it.
        gc.freeze()


def _run() -> None:
    try:
        code = cli.main(prog_name="jobrunner", standalone_mode=False)
        if isinstance(code, int):  # ctx.exit(n) returns n when not in standalone mode
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(exits.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exits.USAGE if isinstance(exc, click.UsageError) else exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(exits.INTERRUPTED)
    except BrokenPipeError:
        sys.stderr.close()  # `jobrunner … | head`: not an error
        sys.exit(exits.OK)
    except Exception as exc:
        if os.environ.get("JOBRUNNER_DEBUG"):
            traceback.print_exc()
        else:
            click.echo(
                f"jobrunner: internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug in jobrunner. Please report it with the command you ran; "
                "set JOBRUNNER_DEBUG=1 to see the traceback.",
                err=True,
            )
        sys.exit(exits.INTERNAL)
