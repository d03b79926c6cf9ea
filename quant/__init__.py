"""quant: post-training quantization (BRECQ block reconstruction). Not implemented yet (issue 4)."""
