"""File names, schema version, environment variables and plugin groups.

Everything that names a file on disk, a variable in the environment or an
entry-point group lives here, so the rest of the package never spells them.
"""

from __future__ import annotations

import re
from enum import Enum

LIBRARY_NAME = "embedreg"

#: Version of the ``registry.json`` layout this embedreg reads and writes.
#: A registry with a higher version is refused rather than misread.
#: 2: generations may carry a ``fingerprint`` (absent = none in version 1).
#: 3: Hub sources record the branch or tag they were ``resolved_from``, adapters
#: where they were ``published`` (both absent = none in versions 1 and 2).
#: Older files are migrated on read (:mod:`embedreg.registry.document`).
SCHEMA_VERSION = 3

# --- environment variables -------------------------------------------------------

#: The registry to use when no ``--registry`` is given.
ENV_REGISTRY = "EMBEDREG_REGISTRY"
#: Set to 1 to see tracebacks instead of one-line errors.
ENV_DEBUG = "EMBEDREG_DEBUG"
#: Where embedded inputs are cached for registries that are not local folders.
ENV_CACHE = "EMBEDREG_CACHE"

# --- the registry directory (the local store) ---------------------------------------

REGISTRY_FILENAME = "registry.json"
LOCK_FILENAME = ".registry.lock"
ARTIFACTS_DIRNAME = "artifacts"
DEFAULT_REGISTRY_DIR = ".embedreg"
#: Embedded inputs, cached inside a local registry directory.
CACHE_DIRNAME = "cache/embeddings"
#: The cache root of non-local registries when ``$EMBEDREG_CACHE`` is unset
#: (embedded inputs go to its ``embeddings/`` folder).
DEFAULT_CACHE_DIR = "~/.cache/embedreg"

# --- adapter folders ------------------------------------------------------------------

#: Artifact key prefix of adapter folders in a store (``adapters/<id>``).
ADAPTER_ARTIFACT_PREFIX = "adapters"
ADAPTER_WEIGHTS_FILENAME = "model.safetensors"
ADAPTER_CONFIG_FILENAME = "config.json"
#: ``format`` metadata of an adapter's safetensors file.
ADAPTER_FORMAT = "embedreg.adapter"
ADAPTER_FORMAT_VERSION = 1

# --- gallery folders ------------------------------------------------------------------

GALLERY_MANIFEST = "gallery.json"
GALLERY_LOCK = ".gallery.lock"
#: Written before a build's first file and removed once it is registered: a build that
#: finds it knows an earlier one was killed, and redoes its files.
GALLERY_BUILD_JOURNAL = ".embedreg-build.json"
GALLERY_FORMAT = "embedreg.gallery"
GALLERY_FORMAT_VERSION = 1
#: Folder of manifests whose versioned files are kept on disk (the version an
#: upgrade replaced, until ``embedreg upgrade finalize``).
GALLERY_RETAINED_DIR = ".retained"

# --- upgrade jobs (inside a gallery folder) and sharded embedding work folders ------------

#: The upgrade job's folder inside a gallery folder.
UPGRADE_DIR = ".upgrade"
#: The job's journal (its spec and state), replaced atomically at each step.
UPGRADE_JOB = "job.json"
#: Held by the process that runs the job (released when it ends or dies).
UPGRADE_LOCK = "job.lock"
UPGRADE_JOB_FORMAT = "embedreg.upgrade-job"
UPGRADE_JOB_FORMAT_VERSION = 1
#: Retention key of the version an upgrade replaced (``.retained/previous.json``).
UPGRADE_PREVIOUS = "previous"

#: A sharded embedding's work folder: its spec, the items, the checkpointed chunks.
WORK_SPEC = "spec.json"
WORK_ITEMS = "items.jsonl"
WORK_CHUNKS = "chunks"
WORK_LOGS = "logs"
WORK_FORMAT = "embedreg.embedding-work"
WORK_FORMAT_VERSION = 1
#: Items per checkpointed chunk unless told otherwise.
DEFAULT_CHUNK_ITEMS = 256
#: Set by a launcher in its worker processes: the pid whose death stops them.
ENV_PARENT_PID = "EMBEDREG_PARENT_PID"

# --- the Hugging Face Hub ------------------------------------------------------------

#: URL scheme of registries kept in a Hub repo (``hf://OWNER/NAME[@REVISION]``).
HUB_SCHEME = "hf"
#: The branch a Hub registry is written to, and the revision a Hub model is pinned from.
HUB_DEFAULT_BRANCH = "main"
#: Variables of the ``huggingface_hub`` client that embedreg's messages name
#: (the client reads them; embedreg never reads a token itself).
ENV_HF_TOKEN = "HF_TOKEN"
ENV_HF_ENDPOINT = "HF_ENDPOINT"
ENV_HF_OFFLINE = "HF_HUB_OFFLINE"
ENV_HF_PROGRESS = "HF_HUB_DISABLE_PROGRESS_BARS"
#: A model card (and a Hub repo's front page).
CARD_FILENAME = "README.md"
#: Commits a Hub registry update tries before giving up on concurrent writers,
#: and the first pause between tries (seconds; it doubles, with jitter, up to the cap).
HUB_COMMIT_ATTEMPTS = 16
HUB_RETRY_PAUSE = 0.1
HUB_RETRY_PAUSE_MAX = 3.0
#: Where the last state read from each Hub registry is kept, under the cache root
#: (``$EMBEDREG_CACHE`` or ``DEFAULT_CACHE_DIR``), for ``HF_HUB_OFFLINE=1``.
HUB_CACHE_DIRNAME = "hub-registries"
#: ``library_name`` and tags of the cards embedreg publishes.
HUB_LIBRARY_NAME = "embedreg"
HUB_ADAPTER_TAGS: tuple[str, ...] = ("embedreg", "embedding-adapter")
HUB_REGISTRY_TAGS: tuple[str, ...] = ("embedreg", "embedding-registry")

# --- model cards ----------------------------------------------------------------------

#: Card templates shipped as package data (``embedreg/cards/``).
CARD_TEMPLATES: tuple[str, ...] = ("adapter_card.md", "registry_card.md", "st_export_card.md")

# --- sentence-transformers export --------------------------------------------------------

#: ``format`` of the ``embedreg`` section of an exported sentence-transformers model's card.
ST_EXPORT_FORMAT = "embedreg.st-export/1"
#: The lowest cosine, on every verification text, between an export's vectors and
#: embedreg's own path output; an export below it is refused.
ST_EXPORT_MIN_COSINE = 0.9999
#: ``library_name`` and tags of an exported sentence-transformers model's card.
ST_LIBRARY_NAME = "sentence-transformers"
HUB_ST_TAGS: tuple[str, ...] = (
    "sentence-transformers",
    "sentence-similarity",
    "feature-extraction",
    "embedreg",
    "embedding-adapter",
)
#: The extra that installs sentence-transformers (``pip install 'embedreg[st]'``).
ST_EXTRA = "st"

#: Entry-point group of registry stores, keyed by URL scheme (``file``, ``hf``).
STORES_GROUP = "embedreg.stores"
#: Entry-point group of adapter families, keyed by family name.
ADAPTERS_GROUP = "embedreg.adapters"
#: Entry-point group of gallery backends, keyed by URL scheme (``file``, ``qdrant``, ...).
GALLERIES_GROUP = "embedreg.galleries"

#: Names of generations, aliases and other registry objects.
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
NAME_MAX_LENGTH = 64

#: The largest vector dimension a generation or adapter may declare (a guard against
#: tampered records and cards; real embedding models stay far below it).
MAX_DIMENSION = 1 << 20

#: File suffixes that hold model weights; their bytes pin a local model folder.
WEIGHT_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".h5",
    ".msgpack",
    ".onnx",
    ".gguf",
)

#: How long a writer waits for the registry lock before giving up (seconds).
DEFAULT_LOCK_TIMEOUT = 60.0

#: ``format`` tag in the metadata of embedreg embeddings files (safetensors).
EMBEDDINGS_FORMAT = "embedreg.embeddings"
#: Version of the embeddings-file layout this embedreg reads and writes.
EMBEDDINGS_FORMAT_VERSION = 1
#: The index of a sharded embeddings folder (beside its shard files).
EMBEDDINGS_INDEX_FILENAME = "index.json"

#: Roles a vector can play; queries and documents may use different prefixes.
ROLES: tuple[str, ...] = ("query", "document")
#: The longest item (one line of an input file) read, in characters: reading stays
#: bounded whatever the file holds, and models read only their first tokens anyway.
DEFAULT_MAX_ITEM_CHARS = 1_000_000
#: Images of more pixels than this are refused before they are decoded (``--max-pixels``).
DEFAULT_MAX_IMAGE_PIXELS = 64_000_000
#: Rows per embeddings shard file unless told otherwise (~100 MB of float32 at 384-d).
DEFAULT_SHARD_ROWS = 65536
#: Encoder precisions: ``auto`` is float16 autocast on CUDA and MPS, float32 on CPU.
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "fp16", "bf16")

# --- routing defaults (shown by the command line's help) -------------------------------

#: Default longest chain of adapters a query may travel.
DEFAULT_MAX_HOPS = 3
#: Default lowest acceptable path quality (product of the hops' retentions).
DEFAULT_MIN_QUALITY = 0.5

# --- vocabularies (each listed once; the command line offers their values) --------------


class Vocabulary(str, Enum):
    """A ``str`` enumeration whose members print as their values."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The members' values, in order (for ``click.Choice`` and messages)."""
        return tuple(str(m.value) for m in cls)


class Strategy(Vocabulary):
    """How a gallery moves to a new generation (``embedreg upgrade``).

    Example:
        >>> Strategy("partial") is Strategy.PARTIAL, Strategy.values()[0]
        (True, 'adapt-queries')
    """

    ADAPT_QUERIES = "adapt-queries"
    FORWARD = "forward"
    PARTIAL = "partial"
    REEMBED = "reembed"


class ItemOrder(Vocabulary):
    """The order a partial upgrade re-embeds items in: as given, at random, worst first."""

    GIVEN = "given"
    RANDOM = "random"
    WORST = "worst"


class BackfillOrder(Vocabulary):
    """The orders a backfill curve re-embeds items in (``embedreg eval backfill --order``)."""

    RANDOM = "random"
    WORST_FIRST = "worst-first"
    PREDICTED = "predicted"


class MergeMode(Vocabulary):
    """How the results of a gallery's segments merge (``gallery search --merge``)."""

    AUTO = "auto"
    SCORE = "score"
    CALIBRATED = "calibrated"
    RRF = "rrf"
