"""sha256 of a file: the converter's (the lowest layer that needs it), re-exported."""
from sparsebytenn_converter.digest import sha256_of  # noqa: F401
