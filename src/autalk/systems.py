"""The systems a metric table compares: the trained generator variants and the reference systems.

A reference system is computed from the test clips themselves, with no generator: ``static`` holds the identity
frame still, ``real`` is the real aligned video. Their names are reserved: no variant may take them.
"""

REFERENCE_SYSTEMS = ("static", "real")
