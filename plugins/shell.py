"""`shell`: run a command; the payload arrives as JSON on its standard input.

```yaml
handler: shell
params:
  command: ["/usr/local/bin/report", "--kind", "daily"]   # argv, no shell involved
  env: {REPORT_TOKEN: "${env:REPORT_TOKEN}"}
  cwd: /srv/reports
  permanent_exit_codes: [2]      # these exit codes are not retried
```

Exit code 0 is success; an exit code listed in `permanent_exit_codes` fails
the job permanently; any other exit code is retried per the retry policy.
Output is captured and truncated to `max_output` bytes. The process is killed
at the entry's timeout. A string `command` runs through `sh -c` and needs
`shell: true`, so a shell is only ever involved when asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from jobrunner.plugin import CheckOptions, ParamIssue, Plugin


class Shell(Plugin):
    name = "shell"
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "description": "Run a command; the payload arrives as JSON on standard input.",
        "additionalProperties": False,
        "required": ["command"],
        "properties": {
            "command": {
                "description": "argv list, or a string for `sh -c` (needs `shell: true`)",
                "type": ["array", "string"],
                "items": {"type": "string"},
                "minItems": 1,
                "minLength": 1,
            },
            "shell": {
                "description": "run a string `command` with `sh -c`",
                "type": "boolean",
                "default": False,
            },
            "env": {
                "description": "extra environment variables for the command",
                "type": "object",
                "additionalProperties": {"type": "string"},
            },
            "cwd": {"description": "working directory", "type": "string", "minLength": 1},
            "permanent_exit_codes": {
                "description": "exit codes that fail the job without retrying",
                "type": "array",
                "items": {"type": "integer", "minimum": 1, "maximum": 255},
                "uniqueItems": True,
            },
            "max_output": {
                "description": "bytes of stdout and stderr kept with the result",
                "type": "integer",
                "minimum": 0,
                "default": 65536,
            },
        },
    }

    @classmethod
    def check(cls, params: Mapping[str, Any], options: CheckOptions) -> Iterator[ParamIssue]:
        command, shell = params.get("command"), params.get("shell", False)
        if isinstance(command, str) and not shell:
            yield ParamIssue(
                ("command",),
                "a string command needs `shell: true`",
                'write it as a list (`["/usr/bin/prog", "--flag"]`), '
                "or set `shell: true` to run it with sh -c",
            )
        if isinstance(command, list) and shell:
            yield ParamIssue(
                ("shell",),
                "`shell: true` takes a string command, but `command` is a list",
                "remove `shell: true`, or write the command as one string",
            )
        cwd = params.get("cwd")
        if isinstance(cwd, str) and not cwd.startswith(("/", "$")):
            yield ParamIssue(
                ("cwd",),
                f"relative working directory '{cwd}' depends on where the daemon started",
                "use an absolute path",
                warning=True,
            )
