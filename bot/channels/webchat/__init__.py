"""The web chat: a page for demos and for embedding on a district website, and its small API."""
