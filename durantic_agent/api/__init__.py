"""The local HTTP/JSON API: every read and write on a unix socket (0600); read-only views on loopback TCP."""
