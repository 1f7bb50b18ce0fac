"""Small helpers every subpackage may use: crash-safe writes, hashes, field checks, timestamps, callback types."""
