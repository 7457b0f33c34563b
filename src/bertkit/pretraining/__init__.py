"""Masked-language-model pretraining from raw text: corpus reading, packing, the token cache,
dynamic masking, model presets and the run that ties them to the shared trainer."""
