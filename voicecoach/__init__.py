"""voicecoach: an offline, hands-free audio coach for the hip thrust."""

__version__ = "0.1.0"
