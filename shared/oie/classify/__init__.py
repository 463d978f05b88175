"""Image classification with TFLite models (LiteRT): decoding, models, the classifier."""
