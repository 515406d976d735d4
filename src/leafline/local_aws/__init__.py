"""Local AWS: S3, the Model Registry and SageMaker on 127.0.0.1, where transform jobs and endpoints really run.

moto answers the APIs it fakes well (S3, model package groups and versions, models, endpoint configs,
pipelines); leafline answers the ones moto only records: CreateTransformJob runs the emulator, endpoints
run the real server, and CreateModel enforces the registry's approval gate. `leafline local-aws` starts it.
"""
