"""The job spec and the reference data it is checked against: the spec file's schema and loading
(`jobspec`, with the embedded default `leafline-spec.toml`), schedule checks, SageMaker's instance types
and the Batch Transform price table. Shared by the CLI, both orchestrators, the dashboard and the
image's validator; it imports none of them."""
