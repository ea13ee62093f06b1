"""`jobrunner plan`: what merging the job files on disk would change in the daemons."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from jobrunner.cli import exits
from jobrunner.cli.jobs import storage_errors
from jobrunner.cli.options import job_paths, load_or_exit, open_or_exit, storage_url

if TYPE_CHECKING:
    from jobrunner.config.model import Config
    from jobrunner.storage import Storage


def compare(storage: Storage, config: Config) -> dict[str, Any]:
    """The plan from the configuration published to `storage` to `config`, JSON-ready."""
    from jobrunner.reload import publish
    from jobrunner.reload.plan import plan
    from jobrunner.storage import records

    old = records.read_published(storage)
    new = publish.view(config, 0)
    change = plan(old, new)
    return {
        "storage": storage.url,
        "published": None if old is None else {"generation": old.generation, "hash": old.hash},
        "hash": new.hash,
        "changes": [
            {
                "sign": c.sign,
                "kind": c.kind,
                "name": c.name,
                "details": list(c.details),
                "line": str(c),
            }
            for c in change.changes
        ],
    }


def summary(data: dict[str, Any], files: int) -> str:
    """One line for standard error: what was compared with what."""
    old = data["published"]
    count = f"{files} file{'' if files == 1 else 's'}"
    if old is None:
        return f"no configuration published to {data['storage']} yet: every entry is new ({count})"
    return (
        f"{count} (hash {data['hash']}) against generation {old['generation']} "
        f"(hash {old['hash']}) in {data['storage']}"
    )


@click.command()
@job_paths
@storage_url
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON, for scripts.")
def plan(paths: tuple[str, ...], storage: str, as_json: bool) -> None:
    """Show what the job files would change in the daemons sharing a storage.

    The files (default: jobs.d) are compared with the configuration the
    daemons published to the storage, and the difference is printed the way
    a daemon logs it when it reloads: `+` an entry it would add, `-` one it
    would remove, `~` one it would change, with what changes. Run it in CI
    before a merge to review what the merge will do. Files with errors are
    reported as `validate` reports them, and nothing is compared. Exit
    status: 0 (with or without changes), 1 invalid files or storage
    unreachable, 2 usage error.

    \b
    Examples:
      jobrunner plan                                   # ./jobs.d against the default storage
      jobrunner plan jobs.d --storage redis://jobs.internal:6379/0
      jobrunner plan --json | jq -r '.changes[] | select(.sign == "-") | .name'
    """
    from jobrunner.cli import report
    from jobrunner.problem import has_errors

    loaded = load_or_exit(paths)
    if loaded.problems:
        click.echo(report.text(loaded.problems), err=True)
    if has_errors(loaded.problems):
        entries = len(loaded.config.queues) + len(loaded.config.crons)
        click.echo(report.summary(loaded.problems, len(loaded.files), entries), err=True)
        raise SystemExit(exits.INVALID)
    store = open_or_exit(storage)
    try:
        with storage_errors():
            data = compare(store, loaded.config)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(summary(data, len(loaded.files)), err=True)
    click.echo("\n".join(c["line"] for c in data["changes"]) or "no changes")
