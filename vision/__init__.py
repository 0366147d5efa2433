"""Vision: frame sampling, the ultralytics detector, presence over time, demo assets."""
