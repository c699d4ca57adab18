"""Acquisition: obtain a raw corpus (GRID download, a registered local copy such as TCD-TIMIT, or the
synthetic demo) in GRID's raw layout, and describe it in one manifest table that every later stage reads.

Modules: ``transfer`` (resumable HTTP download), ``archives`` (integrity check and extraction), ``grid``
(one GRID talker, end to end), ``local`` (a corpus that needs registration), ``probe`` (video/audio
properties), ``manifest`` (the table and its reader), ``atomic`` (writes that never look complete early).
"""
