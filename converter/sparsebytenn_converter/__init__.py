"""The SparseByteNN converter: reads and rewrites .mnn files (pure Python, no C++)."""
