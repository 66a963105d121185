"""StudioLoop: the open-source platform that runs fitness studios."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("studioloop")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+local"
