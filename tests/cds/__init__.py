"""The CDS Hooks service: its security, its cards and its exchanges."""
