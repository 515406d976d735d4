"""leafline's nightly scoring as a SageMaker Pipeline: builder turns leafline.pipeline_plan's requests into the
SageMaker Python SDK's steps (the `pipeline` extra). Imported by `leafline pipeline ...`, never by the DAG."""
