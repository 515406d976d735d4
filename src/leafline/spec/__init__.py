"""The job spec, the reference data it is checked against and the AWS requests it renders to: the spec
file's schema and loading (`jobspec`, with the embedded default `leafline-spec.toml`), schedule checks,
SageMaker's instance types, the Batch Transform price table, and the boto3 requests every scoring run sends
(`aws_requests`: the one source of truth of both orchestrators). Shared by the CLI, both orchestrators,
the registry, the dashboard and the image's validator; it imports none of them."""
