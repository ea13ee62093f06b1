"""Worker: lease a job, run one attempt, then ack, retry or bury it."""
