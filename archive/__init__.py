"""Talk Archive: Community of Practice recordings, transcribed and searchable to the moment."""

__version__ = "0.1.0"
