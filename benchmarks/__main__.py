"""`python -m benchmarks COMMAND`: the benchmarks that are a package rather than a script."""

from __future__ import annotations

import sys

COMMANDS = {
    "compare": "the comparison with Huey, Dramatiq, Celery and RQ (--help for options)",
    "split": "where a job's CPU goes: workers, producer, redis-server (--help for options)",
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        usage = "\n".join(f"  {name:<10} {what}" for name, what in COMMANDS.items())
        print(
            f"usage: python -m benchmarks COMMAND [options]\n\ncommands:\n{usage}", file=sys.stderr
        )
        return 2
    if sys.argv[1] == "split":
        from benchmarks.compare import split

        return split.main(sys.argv[2:])
    from benchmarks.compare import cli

    return cli.main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
