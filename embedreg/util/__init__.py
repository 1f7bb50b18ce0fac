"""Small helpers every room may use: crash-safe writes, hashes, field checks, timestamps."""
