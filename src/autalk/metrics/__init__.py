"""Evaluation metrics of generated talking-face clips, each on the same aligned test frames as the field uses.

``image``: PSNR and SSIM against the real frames; ``cpbd``: no-reference sharpness; ``landmarks``: LMD with
dlib; ``sync``: audio-visual offset and confidence from a sync expert (``syncnet_official`` for LSE-C/LSE-D
when the official SyncNet weights are supplied); ``au``: the frozen AU classifier against the AU labels.
"""
