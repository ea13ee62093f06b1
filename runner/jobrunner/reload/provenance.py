"""Where a run's definition came from: the configuration generation, the file, the Git commit.

The commit is read from the repository files (HEAD, refs, packed-refs; a `.git`
file pointing elsewhere, as worktrees and git-sync make, is followed), so no
`git` binary is needed on the host.
"""

from __future__ import annotations

from pathlib import Path


def git_commit(directory: Path) -> str | None:
    """The commit checked out in the Git work tree holding `directory`, or None."""
    git = _git_dir(directory.resolve())
    if git is None:
        return None
    try:
        head = (git / "HEAD").read_text().strip()
    except OSError:
        return None
    if not head.startswith("ref: "):
        return head or None
    return _ref(git, head[5:].strip())


def _git_dir(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():
            text = candidate.read_text().strip()
            if text.startswith("gitdir: "):
                target = Path(text[8:])
                return target if target.is_absolute() else (folder / target).resolve()
    return None


def _ref(git: Path, ref: str) -> str | None:
    common = git
    commondir = git / "commondir"
    if commondir.is_file():  # a worktree keeps its branches in the main repository
        common = (git / commondir.read_text().strip()).resolve()
    for base in (git, common):
        path = base / ref
        if path.is_file():
            return path.read_text().strip() or None
    for base in (git, common):
        packed = base / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                sha, _, name = line.partition(" ")
                if name == ref:
                    return sha
    return None
