"""The storage port (archive paths on named storage systems) and its local-filesystem adapter."""
