"""What the Dockerfiles put in their images, read from the Dockerfiles themselves."""

from pathlib import Path


def copied_sources(dockerfile: Path) -> list[str]:
    """The build-context paths a Dockerfile COPYs (not those copied from other stages)."""
    sources = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources
