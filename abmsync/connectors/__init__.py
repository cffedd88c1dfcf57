"""Connectors: one module per system behind the ``Connector`` Protocol of ``base``.

``mapping`` turns a vendor object's records into a shared schema entity from a
YAML mapping; ``files`` reads and writes CSV, Parquet and JSONL.
"""

from abmsync.connectors.base import (
    Batch,
    CheckItem,
    CheckReport,
    Connector,
    Cursor,
    FieldMeta,
    FieldSpec,
    FieldType,
    ObjectMeta,
    Patch,
    WriteResult,
    validate_patch,
)
from abmsync.connectors.files import FilesConnector, FilesError, read_entity, write_frame
from abmsync.connectors.mapping import (
    BadValueError,
    InputError,
    Mapping,
    MappingError,
    apply_mapping,
    load_mapping,
)

__all__ = [
    "BadValueError",
    "Batch",
    "CheckItem",
    "CheckReport",
    "Connector",
    "Cursor",
    "FieldMeta",
    "FieldSpec",
    "FieldType",
    "FilesConnector",
    "FilesError",
    "InputError",
    "Mapping",
    "MappingError",
    "ObjectMeta",
    "Patch",
    "WriteResult",
    "apply_mapping",
    "load_mapping",
    "read_entity",
    "validate_patch",
    "write_frame",
]
