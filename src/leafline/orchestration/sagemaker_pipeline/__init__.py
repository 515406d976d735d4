"""leafline's nightly scoring as a SageMaker Pipeline: plan (the Pipeline as data: parameters and requests, no
SDK), builder (plan's requests as the SageMaker Python SDK's steps, the `pipeline` extra), schedule (its
EventBridge Scheduler requests) and scheduled_start (the start function the schedule invokes). Imported by
`leafline pipeline ...`, never by the DAG."""
