"""Load state in the warehouse (``finhouse_meta``): the control schema and its statements,
written once for every target through a small dialect."""

from finhouse.state.control import SCHEMA_VERSION, Control, Watermark

__all__ = ["SCHEMA_VERSION", "Control", "Watermark"]
