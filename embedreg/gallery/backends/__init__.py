"""Gallery backends for vector databases, registered in the ``embedreg.galleries`` entry-point group.

- :mod:`.qdrant`: Qdrant (local mode or a server), ``qdrant://``;

Each imports its database client only when a gallery is opened.
"""
