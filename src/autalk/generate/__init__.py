"""Generation: test clips for evaluation (``clips``), the user's photo + audio pipeline (``photo``), and
writing frames with their audio as H.264/AAC mp4 (``video``)."""
