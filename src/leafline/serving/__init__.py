"""The scoring server that runs inside the SageMaker inference image.

This subpackage is what the image carries: it imports nothing from the rest of leafline, only the
standard library and its runtime dependencies (numpy, pyarrow, lightgbm, and boto3 for S3 models).
A test keeps that boundary.
"""
