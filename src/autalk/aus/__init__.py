"""Speech-related action units: label backends, label table, agreement with ground truth."""
