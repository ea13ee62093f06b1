"""Config: plain data in, a validated, frozen `Config` and its problems out.

`load` is the one door into the program: `validate`, `schedules`, the
daemon's start and its reloads all call it.
"""

from jobrunner.config.load import (
    Loaded,
    Options,
    PathNotFound,
    assemble,
    forget,
    job_files,
    load,
    read,
)

__all__ = ["Loaded", "Options", "PathNotFound", "assemble", "forget", "job_files", "load", "read"]
