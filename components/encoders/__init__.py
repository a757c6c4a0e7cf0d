"""Pretrained BERT encoders, imported into the TF Hub BERT encoder interface."""
