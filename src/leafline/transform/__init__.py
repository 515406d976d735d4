"""Batch Transform without AWS: a CreateTransformJob request run against the real `serve` process.

Modules, one idea each:
- request: the CreateTransformJob request, parsed and checked as the API checks it;
- storage: file:// and s3:// locations (listing, streaming reads, atomic writes);
- splitting: input objects into whole-record payloads under MaxPayloadInMB;
- jsonpath / dataprocessing: DataProcessing's InputFilter, JoinSource and OutputFilter;
- invoker: POST /invocations with InvocationsTimeoutInSeconds and InvocationsMaxRetries;
- instances: the emulated instances (one serve process each) and their execution parameters;
- job: the job itself, files spread over instances, ordered atomic .out files, the Describe result;
- progress: the terminal progress line.
"""
