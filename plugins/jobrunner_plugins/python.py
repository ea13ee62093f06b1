"""`python`: call `module:function` with the payload.

```yaml
handler: python
params:
  callable: billing.tasks:renew_expiring
isolation: process    # optional: run in a child process killed at the timeout
```

The function receives the payload, and the `JobContext` too when it takes a
second parameter (or one named `ctx`). Its return value must be JSON.
`jobrunner validate --check-imports` imports each callable, so a typo in a
module path fails CI instead of the first run.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from jobrunner.plugin import CheckOptions, JobContext, ParamIssue, Plugin

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
CALLABLE_PATTERN = rf"^{_DOTTED}:{_DOTTED}$"


class Python(Plugin):
    name = "python"
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "description": "Call a Python function with the payload.",
        "additionalProperties": False,
        "required": ["callable"],
        "properties": {
            "callable": {
                "description": "`package.module:function` (or `module:Class.method`)",
                "type": "string",
                "pattern": CALLABLE_PATTERN,
                "patternErrorMessage": (
                    "expected `package.module:function`, a colon between the module "
                    "and the function, like billing.tasks:renew_expiring"
                ),
            },
        },
    }

    @classmethod
    def check(cls, params: Mapping[str, Any], options: CheckOptions) -> Iterator[ParamIssue]:
        target = params.get("callable")
        if not isinstance(target, str) or not re.match(CALLABLE_PATTERN, target):
            return
        if options.check_imports:
            try:
                resolve(target)
            except (ImportError, AttributeError, TypeError) as exc:
                yield ParamIssue(
                    ("callable",),
                    f"cannot import '{target}': {exc}",
                    "check the module path, and that the package is installed "
                    "in the environment that runs jobrunner",
                )

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        try:
            self.function = resolve(params["callable"])
        except (ImportError, AttributeError) as exc:
            raise ImportError(f"cannot import '{params['callable']}': {exc}") from exc
        self.wants_ctx = _wants_context(self.function)

    def run(self, ctx: JobContext, payload: Any) -> Any:
        if self.wants_ctx:
            return self.function(payload, ctx)
        return self.function(payload)


def _wants_context(function: Any) -> bool:
    """True when the function takes a second parameter, or one named `ctx`."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return len(positional) >= 2 or any(p.name == "ctx" for p in parameters)


def resolve(target: str) -> Any:
    """Import `module:attr.path` and return the callable."""
    module_name, _, attr_path = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for attr in attr_path.split("."):
        obj = getattr(obj, attr)
    if not callable(obj):
        raise TypeError(f"'{target}' is not callable")
    return obj
