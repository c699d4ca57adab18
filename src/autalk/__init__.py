"""autalk: talking-head generation driven by speech-related facial action units and audio."""

__version__ = "0.1.0"
