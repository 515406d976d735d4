"""Processes leafline starts and stops: children that die with it (child), the real scoring server on
127.0.0.1 (server) and SIGTERM as an exception so cleanup runs (termination)."""
