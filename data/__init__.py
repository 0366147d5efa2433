"""Training data: synthesis from scores, dataset readers, TFRecords and samplers."""
