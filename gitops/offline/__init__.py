"""The program run offline under Pulumi's mock engine: render to YAML and the built-in sample."""
