"""The model files: the manifest that describes a model directory, the shipped default model's
install, the LoRA merge into a GGUF, its quantization and quality gate, and GGUF metadata."""
