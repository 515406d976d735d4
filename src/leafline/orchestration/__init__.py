"""One scoring run, orchestrated: its steps (steps), the deployment's settings and folder of specs
(settings, spec_folder), and the two halves that call them: Airflow (airflow) and the SageMaker Pipeline
(sagemaker_pipeline). The requests both send are rendered by leafline.spec.aws_requests."""
