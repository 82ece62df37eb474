"""facev3: face detection, alignment, embeddings and calibrated re-ranking for face search."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("facev3")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
