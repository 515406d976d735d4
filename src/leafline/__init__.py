"""leafline: nightly LightGBM batch scoring on Amazon SageMaker.

The package imports only the standard library at import time; numpy, pyarrow, lightgbm and boto3
are imported inside the functions that need them, so `import leafline` stays cheap for DAG parsing.
"""

__version__ = "0.1.0"
