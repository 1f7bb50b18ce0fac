"""Gallery backends for vector databases, registered in the ``embedreg.galleries`` entry-point group.

- :mod:`.qdrant`: Qdrant (local mode or a server), ``qdrant://``;
- :mod:`.milvus`: Milvus (Milvus Lite in a file, or a server), ``milvus://``;
- :mod:`.pgvector`: PostgreSQL with pgvector, ``postgresql://``.

Each imports its database client only when a gallery is opened.
"""
