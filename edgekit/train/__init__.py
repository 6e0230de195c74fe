"""Training stage (torch, timm, anomalib): pretrained backbones and per-position models."""
