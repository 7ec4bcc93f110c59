"""Docks of the main window."""
