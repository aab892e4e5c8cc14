"""General utilities, named for what they are: `io` (atomic writes, YAML with one-line
errors) and `config` (dataclass configs from YAML + ``--set``). No torch, no models: every
layer (`nas`, `supernet`) uses them."""
