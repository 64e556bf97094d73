"""Kyso Gateway: signs an agency's outgoing documents with its HSM-held key (Điều 4)."""

__version__ = "0.1.0"
