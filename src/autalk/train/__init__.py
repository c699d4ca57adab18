"""Every trainer of the project, each a loop readable top to bottom: the AU classifier (``au_classifier``), the
audio-to-AU networks (``audio2au``), the sync expert (``sync_expert``) and the generator (``generator``, over
``dataset``'s clip windows, logging through ``log`` and drawing ``figures``). What they share is in ``scaffold``
(seeding, device, early stopping, resumable checkpoints) and their losses in ``losses``."""
