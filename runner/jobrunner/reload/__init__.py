"""Reload: the files on disk, judged against their last good versions, planned and applied."""
