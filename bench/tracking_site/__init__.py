"""The project's own settings and URLs plus one minimal view: the tracking benchmark's ceiling."""
