"""The offline demo corpus: GRID-style sentences spoken by espeak-ng, mouthed by warped packaged photographs.

Modules, in the order the data flows: ``grammar`` (sentences), ``speech`` (audio + phoneme timings),
``articulation`` (phonemes -> mouth parameters -> ground-truth AUs), ``faces`` (identities from photos),
``render`` (frames), ``media`` (mp4/wav/align writers), ``synthesize`` (the corpus), ``previews`` (figures).
"""
