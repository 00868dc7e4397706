"""The web console at ``/ui``: server-rendered pages over the same store and keys as the API."""
