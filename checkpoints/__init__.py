"""Thread checkpoints: PostgreSQL when configured, SQLite under the data dir otherwise."""

from checkpoints.open import CheckpointStore, open_checkpointer

__all__ = ["CheckpointStore", "open_checkpointer"]
