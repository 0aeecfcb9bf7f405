"""The knowledge pack: the policy's thresholds, weights, rules, figures and sources as cited YAML.

A clinician reviews and changes the pack without reading code; the loader checks it against its schema
and refuses a pack that is not whole (a rule citing an unknown source, a missing field, a condition that
names an unknown fact). The pack's sha256 digest is stamped on every assessment.
"""

from vertaid.knowledge._loader import (
    DEFAULT_PACK,
    PACK_FILES,
    InvalidPack,
    default_pack,
    digest_of,
    load_pack,
    pack_json_schema,
)

__all__ = [
    "DEFAULT_PACK",
    "PACK_FILES",
    "InvalidPack",
    "default_pack",
    "digest_of",
    "load_pack",
    "pack_json_schema",
]
