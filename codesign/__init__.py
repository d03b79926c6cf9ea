"""codesign: the application layer. The end-to-end pipeline (tables -> sensitivities -> search ->
quantize -> validate) and its report; the only package that imports hwsim, quant and search together."""
