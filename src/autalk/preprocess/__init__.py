"""Preprocessing: raw clips -> aligned face crops, landmarks and MFCC windows, one compact file per clip,
with a QC row for every manifest clip (``autalk preprocess`` per speaker, ``autalk qc-summary`` per dataset)."""
