"""Adapter training fan-out: in-process or on Ray, with progress."""
