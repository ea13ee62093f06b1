"""Values: the small languages of job files (durations, rates, schedules, templates, refs)."""
