"""Generator training: clip windows (``dataset``), the loop (``loop``) and what it draws (``figures``)."""
