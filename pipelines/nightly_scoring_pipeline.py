"""leafline's SageMaker Pipeline, as a file: the builder is leafline.orchestration.sagemaker_pipeline.builder, which
`leafline pipeline ...` uses by default. `--pipeline-file` (or LEAFLINE_PIPELINE_FILE) loads any module file
with build_pipeline and session, such as this one or a team's own builder.
"""

from leafline.orchestration.sagemaker_pipeline.builder import build_pipeline, session

__all__ = ["build_pipeline", "session"]
