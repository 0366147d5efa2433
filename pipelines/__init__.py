"""What users run: separation, detection, evaluation and batch jobs, as a library and CLIs."""
