"""Named exit codes, shared by every command."""

OK = 0
INVALID = 1  # the job files have errors
USAGE = 2  # the command line is wrong (click's own code for usage errors)
INTERNAL = 70  # a bug in jobrunner (EX_SOFTWARE)
INTERRUPTED = 130  # Ctrl-C
